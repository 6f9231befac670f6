"""A model's answer is bounded (issue 22, part 3): a 20 MB answer is rejected with its reason,
stored cut to [mutation] max_answer_kb, and the re-ask shows the reason and the answer's first
and last lines, never the answer whole; a 5,000-block answer cannot grow the re-asks to MBs."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.errors import ProblemError
from evolve.mutate.llm import ModelSpec
from evolve.problem import load_problem
from evolve.store.db import open_engine, session_factory
from evolve.store.models import LLMCall

from model_server import ModelServer, Reply, good_diff, is_retry

MB = 1024 * 1024
HUGE = "Here is everything I know.\n" + "".join(f"line {i} of a very long answer, on and on\n" for i in range(500_000))


def with_retries(problem, max_retries):
    """The problem with `[mutation] max_retries` set."""
    mutation = problem.config.mutation.model_copy(update={"max_retries": max_retries})
    return dataclasses.replace(problem, config=problem.config.model_copy(update={"mutation": mutation}))


def _run(problem, answer_first, tmp_path, name):
    """Two iterations, one call at a time: the first answer of each is `answer_first`; the re-ask
    gets a valid edit. `max_retries` is set: unset, a loopback model is re-asked only for reasons a
    re-ask can fix (mutate/reask.py), and an oversized answer is not one of them."""
    problem = with_retries(problem, 1)

    def script(request, index):
        return Reply(good_diff(request, index)) if is_retry(request) else Reply(answer_first)

    with ModelServer(script) as server:
        options = RunOptions(
            iterations=2,
            llm_concurrency=1,
            eval_workers=1,
            models=(ModelSpec("openai/test-model", api_base=server.url, backoff=0.01),),
            sandbox="process",
        )
        result = evolve_run(problem, options, runs_root=tmp_path, run_name=name)
        requests = [json.dumps(call["messages"]) for call in server.calls]
    with session_factory(open_engine(result.db_url, create=False))() as s:
        rows = s.scalars(select(LLMCall).order_by(LLMCall.id)).all()
        largest = s.scalar(
            select(func.max(func.max(func.length(LLMCall.prompt), func.length(func.coalesce(LLMCall.answer, "")))))
        )
        return result, requests, rows, largest


def test_a_20_mb_answer_is_never_stored_or_sent_past_1_mb(ray_local, circle_packing, tmp_path):
    assert len(HUGE) > 20 * MB
    result, requests, rows, largest = _run(circle_packing, HUGE, tmp_path, "huge")
    assert len(requests) == 4  # each iteration: the huge answer, then its re-ask
    assert max(len(r) for r in requests) < MB  # no request carried the answer back
    retries = [r for r in requests if '"assistant"' in r]
    assert len(retries) == 2 and all(len(r) < 200 * 1024 for r in retries)
    assert largest <= 256 * 1024  # [mutation] max_answer_kb's default, in every row
    first = rows[0]
    assert first.retried and first.outcome == "rejected"
    assert "over [mutation] max_answer_kb = 256 KB" in first.reject_reason
    assert first.answer.startswith("Here is everything I know.") and "cut:" in first.answer
    # The re-ask showed the reason and the answer's first and last lines, marking what it left out.
    assert "max_answer_kb" in retries[0] and "line 0 of" in retries[0] and "line 499999 of" in retries[0]
    assert "the middle is left out" in retries[0]
    assert result.progress.completed == 2 and result.progress.evaluated >= 1  # the re-asks gave children


def test_a_5000_block_answer_cannot_grow_the_reasks(ray_local, circle_packing, tmp_path):
    blocks = "".join(
        f"<<<<<<< SEARCH\nnot in the program {i}\n=======\nx = {i}\n>>>>>>> REPLACE\n" for i in range(5000)
    )

    def never_applies(request, index):
        # A new answer each time: the same answer again would end the iteration at once
        # (mutate/repeats.py), and the re-asks are what this test measures.
        return Reply(f"attempt {index}\n{blocks}")

    with ModelServer(never_applies) as server:
        options = RunOptions(
            iterations=1,
            llm_concurrency=1,
            eval_workers=1,
            models=(ModelSpec("openai/test-model", api_base=server.url, backoff=0.01),),
            sandbox="process",
        )
        evolve_run(with_retries(circle_packing, 2), options, runs_root=tmp_path, run_name="blocks")
        sizes = [len(json.dumps(call["messages"])) for call in server.calls]
    assert len(sizes) == 3  # the answer, and its two re-asks ([mutation] max_retries)
    # Each re-ask adds at most the answer's excerpt and the reason (tens of KB), not the answer whole.
    assert sizes[2] - sizes[0] < 100 * 1024, sizes


@pytest.mark.parametrize("value", ["0", "2048", '"big"'])
def test_max_answer_kb_is_checked_like_every_key(tmp_path, value):
    folder = tmp_path / "circle_packing"
    shutil.copytree(Path(__file__).resolve().parents[2] / "problems" / "circle_packing", folder)
    toml = folder / "problem.toml"
    toml.write_text(toml.read_text() + f"\n[mutation]\nmax_answer_kb = {value}\n")
    with pytest.raises(ProblemError, match=r"problem.toml: key 'mutation.max_answer_kb'"):
        load_problem(folder)
