"""A result larger than `[evaluation] max_result_kb` is the candidate's failure, the same in both
sandboxes; the runner measures it and sends only its size, the host stops reading at the bound
whatever comes, and the container of such a candidate is removed at once (its attach connection
hung up), so a run with such candidates ends as usual and writes its outputs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.kinds import FailureKind
from evolve.problem import load_problem
from evolve.sandbox import make_sandbox
from evolve.sandbox.base import EvalOutcome, EvalRequest, Limits

PROGRAM = "# EVOLVE-BLOCK-START\ndef main():\n    return 1.5 + 2\n# EVOLVE-BLOCK-END\n"
# The initial program scores 1 with a small result; every other candidate returns `blob`.
EVALUATE = """
import os

BLOB_BYTES = {blob_bytes}

def evaluate(program_path):
    initial = open(os.path.join(os.path.dirname(__file__), "program.py")).read()
    if open(program_path).read() == initial:
        return {{"score": 1.0}}
    return {{"score": 2.0, "blob": "x" * BLOB_BYTES}}

def straight_to_the_channel(program_path):
    # An evaluator that writes on the runner's private result descriptor itself: the host's own
    # bound stops it (the runner never sees it).
    os.write(3, b"x" * BLOB_BYTES)
    return {{"score": 1.0}}
"""
FIFTY_MB = 50 * 1024 * 1024
TOO_LARGE = (
    "invalid result: the result is larger than {kb} KB of JSON: "
    "return less from evaluate(), or raise [evaluation] max_result_kb in problem.toml"
)


def problem_folder(root: Path, blob_bytes: int = FIFTY_MB, max_result_kb: int | None = None) -> Path:
    folder = root / "blob"
    folder.mkdir()
    limit = f"max_result_kb = {max_result_kb}\n" if max_result_kb else ""
    (folder / "problem.toml").write_text(
        f'name = "blob"\ndescription = "results of any size"\nprogram = "program.py"\n'
        f"[evaluation]\ntimeout = 30\nmemory_mb = 1024\n{limit}"
    )
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluate.py").write_text(EVALUATE.format(blob_bytes=blob_bytes))
    os.chmod(root, 0o755)  # the Docker sandbox's user (nobody) reads it
    return folder


def changed(code: str = PROGRAM) -> str:
    return code.replace("1.5", "2.5")


def evaluate(sandbox, folder: Path, code: str, function: str = "evaluate") -> EvalOutcome:
    problem = load_problem(folder)
    request = EvalRequest.for_problem(problem, code, function=function)
    return sandbox.evaluate(request)


def containers_of(sandbox) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--no-trunc", "--filter", f"label=evolve.instance={sandbox.instance}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.fixture()
def docker_sandbox(docker_engine):
    sandbox = make_sandbox("docker", pool_size=1)
    yield sandbox
    sandbox.close()


@pytest.fixture()
def process_sandbox():
    return make_sandbox("process", warn=False)


def test_the_limit_is_a_setting_of_the_problem(tmp_path):
    problem = load_problem(problem_folder(tmp_path, max_result_kb=8))
    assert Limits.of(problem.config.evaluation).max_result_kb == 8
    assert Limits.default().max_result_kb == 1024  # 1 MB when problem.toml does not say


@pytest.mark.parametrize("function", ["evaluate", "straight_to_the_channel"])
def test_a_50_mb_result_fails_the_same_way_in_both_sandboxes(tmp_path, process_sandbox, docker_sandbox, function):
    folder = problem_folder(tmp_path)
    outcomes = {}
    for sandbox in (process_sandbox, docker_sandbox):
        started = time.monotonic()
        outcomes[sandbox.name] = evaluate(sandbox, folder, changed(), function)
        assert time.monotonic() - started < 30  # loose: it used to take a minute, or more
    for outcome in outcomes.values():
        assert not outcome.ok and outcome.score is None
        assert outcome.kind is FailureKind.INVALID_RESULT
    assert outcomes["process"].reason == outcomes["docker"].reason == TOO_LARGE.format(kb=1024)
    # The evaluated container goes at once (in the background), not after a minute spent on its
    # output; only the pool's pre-started one stays.
    deadline = time.monotonic() + 20
    while (
        used := set(containers_of(docker_sandbox)) - set(docker_sandbox.pool.ready())
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert used == set()
    started = time.monotonic()
    docker_sandbox.close()
    assert time.monotonic() - started < 30 and containers_of(docker_sandbox) == []


def test_the_bound_is_what_problem_toml_says(tmp_path, process_sandbox, docker_sandbox):
    folder = problem_folder(tmp_path, blob_bytes=64 * 1024, max_result_kb=32)
    for sandbox in (process_sandbox, docker_sandbox):
        assert evaluate(sandbox, folder, PROGRAM).ok  # the initial program's small result
        refused = evaluate(sandbox, folder, changed())
        assert refused.reason == TOO_LARGE.format(kb=32), sandbox.name
        measured = 64 * 1024 + len('{"score": 2.0, "blob": ""}')  # the size the runner measured
        assert f"evaluate() returned {measured} bytes of JSON" in refused.logs
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    folder = problem_folder(roomy, blob_bytes=64 * 1024, max_result_kb=128)
    for sandbox in (process_sandbox, docker_sandbox):
        outcome = evaluate(sandbox, folder, changed())
        assert outcome.ok and outcome.score == 2.0, sandbox.name


@pytest.mark.parametrize("sandbox", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_run_whose_candidates_return_50_mb_finishes_and_writes_its_outputs(tmp_path, request, sandbox):
    if sandbox == "docker":
        request.getfixturevalue("docker_engine")
    problem = load_problem(problem_folder(tmp_path))
    result = evolve_run(
        problem,
        RunOptions(iterations=3, eval_workers=1, llm_concurrency=1, sandbox=sandbox),
        runs_root=tmp_path / "runs",
        run_name=f"blob-{sandbox}",
    )
    assert result.status == "finished" and result.progress.completed == 3
    assert result.best is not None and result.best.score == 1.0  # the initial program; the blobs failed
    assert result.progress.failed >= 1
    run_dir = tmp_path / "runs" / f"blob-{sandbox}"
    assert (run_dir / "summary.json").is_file() and (run_dir / "best" / "program.py").read_text() == PROGRAM
    if sandbox == "docker":
        left = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"label=evolve.run={result.run_name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert left.split() == []
