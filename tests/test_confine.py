"""Landlock confinement of the candidate process, in the process sandbox and in Docker."""

import os
import socket

import pytest

from evolve.sandbox import EvalRequest, make_sandbox

EVALUATE = """
from evolve_eval import CandidateError, run_candidate

def evaluate(program_path):
    try:
        value = run_candidate(program_path, "main", args=({args!r},), timeout=30)
    except CandidateError as exc:
        return {{"error": str(exc)}}
    return {{"score": 1.0, **{{k: float(v) for k, v in value.items()}}}}
"""

PROBE = """
# EVOLVE-BLOCK-START
import os, socket, signal

def blocked(action):
    try:
        action()
        return 0
    except (PermissionError, OSError):
        return 1

def main(target):
    import numpy as np
    out = {}
    out["numpy_works"] = int(np.linalg.norm(np.ones(4)) == 2.0)
    out["read_evaluate_blocked"] = blocked(lambda: open(target["evaluate"]).read())
    out["list_problem_blocked"] = blocked(lambda: os.listdir(target["problem"]))
    out["read_home_blocked"] = blocked(lambda: os.listdir(os.path.expanduser("~root")))
    out["tcp_blocked"] = blocked(lambda: socket.create_connection(("127.0.0.1", target["port"]), timeout=2))
    out["signal_parent_blocked"] = blocked(lambda: os.kill(os.getppid(), 0))
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    out["shared_memory_blocked"] = int(libc.shmget(0x5107C0DE, 4096, 0o1600) == -1)
    def write_here():
        with open("scratch.txt", "w") as f:
            f.write("ok")
    out["workdir_writable"] = 1 - blocked(write_here)
    return out
# EVOLVE-BLOCK-END
"""


@pytest.fixture()
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def make_problem(tmp_path, port, problem_mount):
    folder = tmp_path / "probe"
    folder.mkdir()
    os.chmod(tmp_path, 0o755)
    target = {
        "evaluate": f"{problem_mount or folder}/evaluate.py",
        "problem": str(problem_mount or folder),
        "port": port,
    }
    (folder / "evaluate.py").write_text(EVALUATE.format(args=target))
    return folder


def check(outcome, network_namespace):
    assert outcome.ok, outcome.reason + outcome.logs
    m = outcome.metrics
    assert "not confined" not in outcome.logs
    assert m["numpy_works"] == 1 and m["workdir_writable"] == 1
    assert m["read_evaluate_blocked"] == 1 and m["list_problem_blocked"] == 1
    assert m["read_home_blocked"] == 1
    assert m["signal_parent_blocked"] == 1
    assert m["shared_memory_blocked"] == 1  # no state can pass from one run of a candidate to the next
    assert m["tcp_blocked"] == 1 or network_namespace


def test_process_sandbox_confines_the_candidate(tmp_path, listener):
    from evaluators_path import confine_abi

    if confine_abi() < 6:
        pytest.skip("this kernel's Landlock is older than ABI 6")
    folder = make_problem(tmp_path, listener, None)
    box = make_sandbox("process", warn=False)
    check(
        box.evaluate(EvalRequest(problem_dir=str(folder), code=PROBE, filename="program.py")), network_namespace=False
    )


@pytest.mark.docker
def test_docker_sandbox_confines_the_candidate(docker_engine, tmp_path, listener):
    from evolve.sandbox.docker import CONTAINER_PROBLEM

    folder = make_problem(tmp_path, listener, CONTAINER_PROBLEM)
    with make_sandbox("docker", pool_size=0) as box:
        check(
            box.evaluate(EvalRequest(problem_dir=str(folder), code=PROBE, filename="program.py")),
            network_namespace=True,
        )


def test_a_problem_can_grant_extra_readable_paths(tmp_path):
    from evaluators_path import confine_abi

    if confine_abi() < 1:
        pytest.skip("no Landlock on this kernel")
    os.chmod(tmp_path, 0o755)
    shared = tmp_path / "weights"
    shared.mkdir()
    (shared / "w.txt").write_text("42")
    folder = tmp_path / "granted"
    folder.mkdir()
    (folder / "evaluate.py").write_text(f"""
from evolve_eval import run_candidate

def evaluate(program_path):
    value = run_candidate(program_path, "main", args=({str(folder)!r},), readable=[{str(shared)!r}])
    return {{"score": float(value[0]), "evaluate_blocked": float(value[1])}}
""")
    code = (
        f"# EVOLVE-BLOCK-START\ndef main(folder):\n    weight = open({str(shared / 'w.txt')!r}).read()\n"
        "    try:\n        open(folder + '/evaluate.py').read()\n        blocked = 0\n"
        "    except PermissionError:\n        blocked = 1\n    return [int(weight), blocked]\n# EVOLVE-BLOCK-END\n"
    )
    out = make_sandbox("process", warn=False).evaluate(
        EvalRequest(problem_dir=str(folder), code=code, filename="program.py")
    )
    assert out.ok, out.reason + out.logs
    assert out.score == 42.0 and out.metrics["evaluate_blocked"] == 1.0


SURVIVOR_EVALUATE = """
import os, tempfile
from evolve_eval import CandidateError, run_candidate

def evaluate(program_path):
    path = os.path.join(tempfile.mkdtemp(), "expected.txt")
    with open(path, "w") as f:
        f.write("42")
    try:
        run_candidate(program_path, "main", args=(path,), timeout=20)
    except CandidateError as exc:
        pass
    with open(path) as f:
        return {"score": float(f.read())}
"""

SURVIVOR = """# EVOLVE-BLOCK-START
import os, subprocess
def main(path):
    # A process in a session of its own, meant to outlive the call, and a write to the
    # evaluator's own file (the path is handed over, so no listing is needed).
    subprocess.Popen(["sleep", "31.4159"], start_new_session=True)
    try:
        with open(path, "w") as f:
            f.write("1e9")
    except OSError:
        pass
    return 0
# EVOLVE-BLOCK-END
"""


def test_candidate_cannot_touch_the_evaluator_files_nor_outlive_its_call(tmp_path):
    import subprocess

    os.chmod(tmp_path, 0o755)
    folder = tmp_path / "survivor"
    folder.mkdir()
    (folder / "evaluate.py").write_text(SURVIVOR_EVALUATE)
    out = make_sandbox("process", warn=False).evaluate(
        EvalRequest(problem_dir=str(folder), code=SURVIVOR, filename="program.py")
    )
    assert out.ok and out.score == 42.0, out.reason + out.logs
    left = subprocess.run(["pgrep", "-f", "sleep 31.4159"], capture_output=True, text=True).stdout
    assert left == "", "a process the candidate started outlived its evaluation"
