"""A problem folder the sandbox's user (nobody) cannot read (mode 700, files 600: umask 077) still
evaluates in Docker: the sandbox mounts a staged copy that nobody can read, in a folder other
users cannot list, shared while the content is the same and made afresh when it changes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from evolve.problem import load_problem
from evolve.sandbox import make_sandbox
from evolve.sandbox.base import EvalRequest
from evolve.sandbox.staging import mountable

pytestmark = pytest.mark.docker

PROGRAM = "# EVOLVE-BLOCK-START\ndef main():\n    return 3\n# EVOLVE-BLOCK-END\n"
EVALUATE = """
import os
from evolve_eval import run_candidate

def evaluate(program_path):
    with open(os.path.join(os.path.dirname(__file__), "data", "weights.txt")) as f:
        weight = float(f.read())
    return {"score": weight * run_candidate(program_path, "main", timeout=20)}
"""


def private_problem(root: Path, weight: str = "2") -> Path:
    """A problem folder as a user with umask 077 makes it: only its owner may read anything."""
    folder = root / "private"
    (folder / "data").mkdir(parents=True)
    (folder / "problem.toml").write_text(
        'name = "private"\ndescription = "only its owner reads it"\nprogram = "program.py"\n'
        "[evaluation]\ntimeout = 30\n"
    )
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluate.py").write_text(EVALUATE)
    (folder / "data" / "weights.txt").write_text(weight)
    for path in [
        folder / "problem.toml",
        folder / "program.py",
        folder / "evaluate.py",
        folder / "data" / "weights.txt",
    ]:
        os.chmod(path, 0o600)
    os.chmod(folder / "data", 0o700)
    os.chmod(folder, 0o700)
    return folder


def score(sandbox, folder: Path) -> float | None:
    outcome = sandbox.evaluate(EvalRequest.for_problem(load_problem(folder), PROGRAM))
    assert outcome.ok, outcome.reason + "\n" + outcome.logs
    return outcome.score


@pytest.fixture()
def docker_sandbox(docker_engine):
    sandbox = make_sandbox("docker", pool_size=0)
    yield sandbox
    sandbox.close()


def test_a_folder_only_its_owner_reads_evaluates_in_docker(tmp_path, docker_sandbox):
    folder = private_problem(tmp_path)
    assert score(docker_sandbox, folder) == 6.0
    assert score(make_sandbox("process", warn=False), folder) == 6.0  # the same in the process sandbox


def test_the_copy_is_readable_by_nobody_and_hidden_from_other_users(tmp_path):
    folder = private_problem(tmp_path)
    copy = Path(mountable(str(folder)))
    assert copy != folder and (copy / "evaluate.py").read_text() == EVALUATE
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o711  # others may enter, not list
    assert copy.parent.stat().st_uid == os.getuid()
    modes = {p.relative_to(copy).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [copy, *copy.rglob("*")]}
    assert modes == {".": 0o755, "data": 0o755, "data/weights.txt": 0o644, "evaluate.py": 0o644,
                     "problem.toml": 0o644, "program.py": 0o644}  # fmt: skip
    assert mountable(str(folder)) == str(copy)  # the same content: the same copy


def test_an_edited_folder_is_copied_afresh(tmp_path, docker_sandbox):
    folder = private_problem(tmp_path)
    first = mountable(str(folder))
    assert score(docker_sandbox, folder) == 6.0
    (folder / "data" / "weights.txt").write_text("5")
    assert mountable(str(folder)) != first
    assert score(docker_sandbox, folder) == 15.0  # never a stale copy


def test_a_readable_folder_is_mounted_as_it_is(tmp_path):
    folder = private_problem(tmp_path)
    for path in [folder, folder / "data", *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert mountable(str(folder)) == str(folder)


def test_a_run_on_a_folder_only_its_owner_reads(tmp_path, docker_engine):
    from evolve.engine.options import RunOptions
    from evolve.engine.run import evolve_run

    problem = load_problem(private_problem(tmp_path))
    result = evolve_run(
        problem,
        RunOptions(iterations=2, eval_workers=1, llm_concurrency=1, sandbox="docker"),
        runs_root=tmp_path / "runs",
        run_name="private",
    )
    assert result.status == "finished" and result.best is not None and result.best.initial_score == 6.0
