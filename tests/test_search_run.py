"""The adaptive search end to end: real HTTP through litellm to scripted models on loopback, real
SQLite, a real local Ray instance and the process sandbox."""

import json
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.kinds import CallOutcome, Mutation, StopKind
from evolve.mutate.llm import ModelSpec
from evolve.problem import BanditConfig, MutationConfig, NoveltyConfig, load_problem
from evolve.store import Evaluation, LLMCall, Program, open_engine, session_factory
from evolve.store.models import Embedding

from model_server import ModelServer, Reply, current_program, is_retry, styled_answer

PROGRAM = """# A constant to evolve: the score is its value.

# EVOLVE-BLOCK-START
X = 1.0
# EVOLVE-BLOCK-END


def value():
    return X
"""
EVALUATE = """from evolve_eval import CandidateError, run_candidate


def evaluate(program_path):
    try:
        value = run_candidate(program_path, "value", timeout=20)
    except CandidateError as exc:
        return {"error": str(exc)}
    return {"score": float(value)}
"""
X_LINE = re.compile(r"^X = ([-+\d.e]+)$", re.MULTILINE)


@pytest.fixture
def constant_problem(tmp_path):
    folder = tmp_path / "constant"
    folder.mkdir()
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluate.py").write_text(EVALUATE)
    (folder / "problem.toml").write_text(
        'name = "constant"\nprogram = "program.py"\n[evaluation]\ntimeout = 30\n[population]\nislands = 2\n'
    )
    return load_problem(folder)


def tuned(problem, **sections):
    """The problem with some of its config sections replaced (as problem.toml would set them)."""
    return replace(problem, config=problem.config.model_copy(update=sections))


def models(url, *names, **extra):
    return tuple(
        replace(
            ModelSpec(f"openai/{n}", api_base=url, max_attempts=2, backoff=0.05, price_in=1.0, price_out=2.0),
            **extra,
        )
        for n in names
    )


def scale_x(request, factor) -> str:
    """A SEARCH/REPLACE multiplying the current program's X by `factor`."""
    code = current_program(request)
    match = X_LINE.search(code)
    if match is None:
        return "I have no idea."
    new = f"X = {float(match.group(1)) * factor:.9g}"
    return f"Scale X.\n<<<<<<< SEARCH\n{match.group(0)}\n=======\n{new}\n>>>>>>> REPLACE\n"


def run(problem, tmp_path, name, **options):
    defaults = dict(iterations=12, llm_concurrency=2, eval_workers=2, seed=1, sandbox="process")
    return evolve_run(problem, RunOptions(**{**defaults, **options}), runs_root=tmp_path / "runs", run_name=name)


def session(result):
    return session_factory(open_engine(result.db_url, create=False))()


def final_calls(s):
    return s.scalars(select(LLMCall).where(LLMCall.retried.is_not(True)).order_by(LLMCall.iteration)).all()


def test_the_model_whose_answers_improve_gets_most_pulls(ray_local, constant_problem, tmp_path):
    def script(request, index):
        # Both names reach this server; only one of them makes X grow.
        factor = 1.05 + 0.001 * index if request["model"] == "good" else 0.9 - 0.001 * index
        return Reply(scale_x(request, factor))

    with ModelServer(script) as server:
        result = run(constant_problem, tmp_path, "bandit", iterations=40, models=models(server.url, "good", "poor"))
    assert result.status == "finished"
    with session(result) as s:
        calls = final_calls(s)
        later = [c.model for c in calls if c.iteration > 20]
        assert later.count("openai/good") >= 0.75 * len(later), later
        assert any(c.model == "openai/poor" for c in calls)  # it was tried
    assert result.best.score > 1.2
    # `evolve show` and the report: each arm's pulls, mean reward and cost, as the store left them.
    from typer.testing import CliRunner

    from evolve.inspect.commands import build_app
    from evolve.inspect.summary import summary
    from evolve.inspect.views import collect

    engine = open_engine(result.db_url, create=False)
    arms = {(a.bandit, a.arm): a for a in summary(engine, 1).arms}
    good, poor = arms[("model", "openai/good")], arms[("model", "openai/poor")]
    assert good.pulls > 2 * poor.pulls and good.mean_reward > 0.3 and poor.mean_reward == 0.0
    assert good.cost == pytest.approx(good.pulls * (100 * 1.0 + 50 * 2.0) / 1e6)
    assert sum(a.pulls for (bandit, _), a in arms.items() if bandit == "kind") == good.pulls + poor.pulls
    assert collect(engine, 1)["summary"]["arms"]
    shown = CliRunner().invoke(build_app(), ["show", str(result.run_dir)])
    assert shown.exit_code == 0 and "the bandits' arms" in shown.output and "openai/good" in shown.output
    assert "novelty rejections 0" in shown.output


def test_a_model_whose_calls_keep_failing_rests_while_the_other_takes_its_share(ray_local, constant_problem, tmp_path):
    def script(request, index):
        return Reply(status=500) if request["model"] == "broken" else Reply(scale_x(request, 1.01 + 0.001 * index))

    problem = tuned(constant_problem, bandit=BanditConfig(rest_after=2, rest_iterations=30))
    with ModelServer(script) as server:
        result = run(problem, tmp_path, "rest", iterations=24, models=models(server.url, "broken", "fine"))
    assert result.status == "finished"  # the failing model did not stop the run
    with session(result) as s:
        broken = [c for c in final_calls(s) if c.model == "openai/broken"]
        assert 2 <= len(broken) <= 6, [c.iteration for c in broken]
        assert all(c.outcome == CallOutcome.ERROR for c in broken)


def test_near_duplicate_children_are_not_evaluated_and_their_reason_is_stored(ray_local, circle_packing, tmp_path):
    # Each answer nudges one constant: about 0.98 of the shingles stay, above this threshold.
    problem = tuned(circle_packing, novelty=NoveltyConfig(threshold=0.9))
    with ModelServer(lambda request, index: Reply(styled_answer(request, index, "search_replace"))) as server:
        result = run(problem, tmp_path, "near", iterations=8, models=models(server.url, "m"))
        prompts = [m["content"] for r in server.calls for m in r["messages"]]
    with session(result) as s:
        calls = final_calls(s)
        assert [c.outcome for c in calls] == [CallOutcome.NEAR_DUPLICATE] * 8
        assert all(
            re.search(r"near-duplicate of program 1 \(similarity 0\.9\d+ >= 0\.9\)", c.reject_reason) for c in calls
        )
        assert s.scalar(select(func.count()).select_from(Program)) == 1  # only the initial program
        assert s.scalar(select(func.count()).select_from(Evaluation)) == 1
    assert any("near-duplicate of program 1" in p for p in prompts)  # shown to the model
    assert result.progress.rejected == 8 and result.progress.evaluated == 0


def test_the_judge_decides_whether_a_near_duplicate_is_one(ray_local, circle_packing, tmp_path):
    judged = []
    lock = threading.Lock()

    def script(request, index):
        text = request["messages"][-1]["content"]
        if "You judge whether" in text:
            with lock:
                judged.append(index)
                novel = len(judged) % 2 == 1
            return Reply("NOVEL: it changes a constant that matters." if novel else "DUPLICATE: the same packing.")
        return Reply(styled_answer(request, index, "search_replace"))

    with ModelServer(script) as server:
        # The judge is not one of the run's models: it is reached at [novelty] api_base.
        problem = tuned(circle_packing, novelty=NoveltyConfig(threshold=0.9, judge="openai/judge", api_base=server.url))
        result = run(problem, tmp_path, "judge", iterations=8, models=models(server.url, "m"))
    with session(result) as s:
        judge_rows = s.scalars(select(LLMCall).where(LLMCall.mutation == "judge")).all()
        assert len(judge_rows) == len(judged) >= 2
        assert all(c.retried and c.outcome == CallOutcome.JUDGE and c.model == "openai/judge" for c in judge_rows)
        assert {c.reject_reason.split(":")[0] for c in judge_rows} == {"novel", "near-duplicate"}
        calls = final_calls(s)
        rejected = [c for c in calls if c.outcome == CallOutcome.NEAR_DUPLICATE]
        assert rejected and all("the judge (openai/judge): the same packing" in c.reject_reason for c in rejected)
        evaluated = s.scalar(select(func.count()).select_from(Program).where(Program.iteration > 0))
        assert evaluated == sum(c.outcome == CallOutcome.CHILD for c in calls) >= 1
        spent = s.scalar(select(func.sum(LLMCall.cost)))
    assert result.progress.cost == pytest.approx(spent)  # the judge's calls are the run's (unpriced here: 0)


def test_crossover_prompts_hold_both_parents_and_the_child_has_two(ray_local, constant_problem, tmp_path):
    problem = tuned(
        constant_problem,
        mutation=MutationConfig(diff=1.0, full=0.0, crossover=10.0, fix=0.0),
        bandit=BanditConfig(enabled=False),
    )
    with ModelServer(lambda request, index: Reply(scale_x(request, 1.05 + 0.001 * index))) as server:
        result = run(problem, tmp_path, "crossover", iterations=16, models=models(server.url, "m"))
    with session(result) as s:
        children = s.scalars(select(Program).where(Program.mutation == Mutation.CROSSOVER)).all()
        assert children, "no crossover child"
        for child in children:
            assert child.second_parent_id is not None and child.second_parent_id != child.parent_id
            prompt = s.get(LLMCall, child.llm_call_id).prompt
            first, second = s.get(Program, child.parent_id), s.get(Program, child.second_parent_id)
            assert first.code in prompt and second.code in prompt and "# Second parent" in prompt
    from evolve.inspect.lineage import lineage

    engine = open_engine(result.db_url, create=False)
    steps = lineage(engine, 1, children[-1].id)
    assert steps[-1].second_parent_id == children[-1].second_parent_id


def test_a_fix_prompt_carries_the_error_and_repairs_the_failed_program(ray_local, constant_problem, tmp_path):
    def script(request, index):
        text = request["messages"][-1]["content"]
        code = current_program(request)
        if "it failed its evaluation" in text:
            broken = re.search(r"^raise RuntimeError\('boom \d+'\)$", code, re.MULTILINE)
            if broken is None:
                return Reply("no idea")
            return Reply(
                f"Remove the raise.\n<<<<<<< SEARCH\n{broken.group(0)}\n=======\nX = X * 1.5\n>>>>>>> REPLACE\n"
            )
        line = X_LINE.search(code)
        if line is None:
            return Reply("no idea")
        crash = f"{line.group(0)}\nraise RuntimeError('boom {index}')"
        return Reply(f"Try this.\n<<<<<<< SEARCH\n{line.group(0)}\n=======\n{crash}\n>>>>>>> REPLACE\n")

    problem = tuned(
        constant_problem,
        mutation=MutationConfig(diff=1.0, full=0.0, crossover=0.0, fix=20.0),
        bandit=BanditConfig(enabled=False),
    )
    with ModelServer(script) as server:
        result = run(problem, tmp_path, "fix", iterations=10, models=models(server.url, "m"))
    with session(result) as s:
        fixes = s.scalars(select(Program).where(Program.mutation == Mutation.FIX)).all()
        assert fixes, "no fix child"
        for child in fixes:
            failed = s.get(Program, child.parent_id)
            assert failed.status == "failed" and "boom" in failed.error
            prompt = s.get(LLMCall, child.llm_call_id).prompt
            assert failed.code in prompt and re.search(r"boom \d+", prompt)
            assert child.status == "ok" and child.score == pytest.approx(1.5)
        # A failed program is sent back once.
        assert len({c.parent_id for c in fixes}) == len(fixes)


def test_patience_stops_a_run_whose_best_does_not_improve(ray_local, constant_problem, tmp_path):
    with ModelServer(lambda request, index: Reply(scale_x(request, 0.9 - 0.001 * index))) as server:
        result = run(constant_problem, tmp_path, "patience", iterations=40, patience=4, models=models(server.url, "m"))
    assert result.status == "stopped" and "patience 4" in str(result.stop_reason)
    assert result.stop_reason.kind == StopKind.PATIENCE
    assert json.loads((result.run_dir / "summary.json").read_text())["stop_kind"] == "patience"
    assert 4 <= result.progress.evaluated < 12


@pytest.mark.parametrize("strategy", ["evolve", "random", "best-of-n"])
def test_each_strategy_runs_end_to_end(ray_local, constant_problem, tmp_path, strategy):
    n = 12  # enough that the evolve strategy picks a child as a parent whatever the timing
    with ModelServer(lambda request, index: Reply(scale_x(request, 1.05 + 0.001 * index))) as server:
        result = run(
            constant_problem, tmp_path, strategy, iterations=n, strategy=strategy, models=models(server.url, "m")
        )
        requests = list(server.calls)
    assert result.status == "finished" and result.progress.completed == n
    with session(result) as s:
        children = s.scalars(select(Program).where(Program.iteration > 0)).all()
        calls = final_calls(s)
        if strategy == "random":
            assert not requests and {c.model for c in calls} == {"offline"}
        elif strategy == "best-of-n":
            assert len(requests) == n and all(not is_retry(r) for r in requests)
            assert {c.parent_id for c in children} == {1} and all(c.inspiration_ids == [] for c in children)
            assert {c.mutation for c in calls} <= {"diff", "full"}
            assert result.best.score == pytest.approx(1.05 + 0.001 * max(range(n)), rel=0.01)
        else:
            assert len(requests) >= n and any(c.parent_id != 1 for c in children)
            assert result.best.score > 1.06  # children of children: more than one step can give


def test_embeddings_are_stored_and_not_computed_again_on_resume(ray_local, circle_packing, tmp_path):
    from test_novelty import EmbeddingServer

    def counts(result):
        with session(result) as s:
            near = s.scalar(
                select(func.count()).select_from(LLMCall).where(LLMCall.outcome == CallOutcome.NEAR_DUPLICATE)
            )
            stored = s.scalar(select(func.count()).select_from(Embedding))
            children = s.scalar(select(func.count()).select_from(Program).where(Program.iteration > 0))
        return near, stored, children

    answers = ModelServer(lambda request, index: Reply(styled_answer(request, index, "full_program")))
    with EmbeddingServer() as embeddings, answers as server:
        # The test server's embeddings (a bag of characters) make any two packings alike: a threshold
        # of 1 rejects only a child whose embedding is its neighbour's.
        novelty = NoveltyConfig(embedding_model="openai/emb", api_base=embeddings.url, threshold=1.0)
        problem = tuned(circle_packing, novelty=novelty)
        first = run(problem, tmp_path, "emb", iterations=4, models=models(server.url, "m"))
        near, stored, children = counts(first)
        assert stored == children + 1 >= 3  # each child and the initial program
        assert len(embeddings.requests) == stored + near  # a rejected child was embedded, not stored
        asked = len(embeddings.requests)
        options = RunOptions(iterations=7, llm_concurrency=2, eval_workers=2, seed=1, sandbox="process")
        options = replace(options, models=models(server.url, "m"))
        again = evolve_run(problem, options, runs_root=tmp_path / "runs", run_name="emb", resume=True)
        near_after, stored_after, children_after = counts(again)
    assert again.progress.completed == 7
    # On resume only the new children are embedded: nothing stored is asked for again.
    assert len(embeddings.requests) - asked == (stored_after - stored) + (near_after - near)
    assert stored_after - stored == children_after - children


def test_the_search_quality_bench_runs_its_matrix_offline(ray_local, tmp_path):
    """bench/search_quality.py --quick, cut down: two arms, one seed, four calls each."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "search_quality", Path(__file__).parents[1] / "bench" / "search_quality.py"
    )
    bench = importlib.util.module_from_spec(spec)
    sys.modules["search_quality"] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    from evolve.resources import templates_dir

    problem = load_problem(templates_dir() / "minimal")
    with ModelServer(bench.perturbing_script) as server:
        model = ModelSpec("openai/loopback", api_base=server.url, price_in=1.0, price_out=2.0)
        outcomes = bench.run_matrix(problem, ["evolve", "random"], 1, 4, None, (model,), tmp_path)
    evolve_arm, random_arm = outcomes
    assert evolve_arm.calls >= 4 and evolve_arm.cost > 0 and random_arm.calls == 0 and random_arm.cost == 0
    assert evolve_arm.heldout is not None and random_arm.best is not None
    table = bench.table(outcomes, ["evolve", "random"])
    assert table.count("\n") == 3 and "| evolve |" in table and "| random |" in table
    report = tmp_path / "RESULTS.md"
    report.write_text("# Results\n\n## Other\n\ntext\n")
    bench.write_section(report, f"{bench.HEADING}\n\nfirst\n")
    bench.write_section(report, f"{bench.HEADING}\n\nsecond\n")
    assert report.read_text().count(bench.HEADING) == 1 and "second" in report.read_text()
    assert "## Other" in report.read_text()
