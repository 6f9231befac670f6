"""The process sandbox: limits, failures with reasons, a result channel the candidate cannot forge."""

import json
import os
import time

import pytest

from evolve.sandbox import EvalRequest, make_sandbox
from evolve.sandbox.base import Limits
from evolve.sandbox.result import interpret

EVALUATE = """
from evolve_eval import CandidateError, run_candidate

def evaluate(program_path):
    try:
        value = run_candidate(program_path, "main", timeout=20)
    except CandidateError as exc:
        return {"error": str(exc)}
    if not isinstance(value, (int, float)):
        return {"error": "main() must return a number"}
    return {"score": float(value), "double": 2.0 * value, "feedback": f"got {value}"}

def quick_check(program_path):
    return {"score": 1.0 if "fast" in open(program_path).read() else 0.0}
"""


@pytest.fixture()
def problem_dir(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "evaluate.py").write_text(EVALUATE)
    os.chmod(tmp_path, 0o755)
    return str(folder)


@pytest.fixture(scope="module")
def sandbox():
    return make_sandbox("process", warn=False)


def run(sandbox, problem_dir, body, cascade=(), **limits):
    code = f"# EVOLVE-BLOCK-START\n{body}\n# EVOLVE-BLOCK-END\n"
    return sandbox.evaluate(
        EvalRequest(
            problem_dir=problem_dir, code=code, filename="program.py", cascade=cascade, limits=Limits.default(**limits)
        )
    )


def test_good_candidate(sandbox, problem_dir):
    out = run(sandbox, problem_dir, "def main():\n    print('hello from the candidate')\n    return 21")
    assert out.ok and out.score == 21.0 and out.metrics["double"] == 42.0 and out.feedback == "got 21"
    assert "hello from the candidate" in out.logs


def test_crash_is_a_failure_with_its_reason(sandbox, problem_dir):
    out = run(sandbox, problem_dir, "def main():\n    raise ValueError('boom')")
    assert not out.ok and "ValueError: boom" in out.reason


def test_timeout_kills_the_whole_group(sandbox, problem_dir):
    body = "import subprocess, time\ndef main():\n    subprocess.Popen(['sleep', '300'])\n    time.sleep(300)"
    out = run(sandbox, problem_dir, body, timeout=2)
    assert not out.ok and out.reason.startswith("timeout") and out.duration < 10


def test_printed_fake_result_is_ignored(sandbox, problem_dir):
    fake = json.dumps({"result": {"score": 1e9}})
    body = f"import sys\ndef main():\n    print({fake!r})\n    sys.stdout.flush()\n    return 1"
    out = run(sandbox, problem_dir, body)
    assert out.ok and out.score == 1.0


def test_os_exit_is_a_failure(sandbox, problem_dir):
    out = run(sandbox, problem_dir, "import os\ndef main():\n    os._exit(0)")
    assert not out.ok and "exited without returning" in out.reason


def test_no_secrets_in_the_environment(sandbox, problem_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    body = "import os\ndef main():\n    print(sorted(os.environ))\n    return 0 if any('KEY' in k for k in os.environ) else 1"
    out = run(sandbox, problem_dir, body)
    assert out.ok and out.score == 1.0 and "sk-secret-value" not in out.logs


def test_memory_limit(sandbox, problem_dir):
    out = run(sandbox, problem_dir, "def main():\n    x = bytearray(4 * 1024**3)\n    return 1", memory_mb=512)
    assert not out.ok and "MemoryError" in out.reason


def test_gigantic_output_is_bounded(sandbox, problem_dir):
    body = "import sys\ndef main():\n    for _ in range(20000):\n        sys.stdout.write('x' * 10000 + '\\n')\n    return 3"
    out = run(sandbox, problem_dir, body, timeout=30)
    assert out.ok and out.score == 3.0 and len(out.logs) < 20000 and "bytes of output skipped" in out.logs


def test_non_finite_score_is_rejected(sandbox, problem_dir):
    out = run(sandbox, problem_dir, "def main():\n    return float('nan')")
    assert not out.ok and "not finite" in out.reason


def test_cascade_stops_early(sandbox, problem_dir):
    out = run(sandbox, problem_dir, "def main():\n    return 5", cascade=(("quick_check", 0.5),))
    assert not out.ok and "cascade" in out.reason and out.score == 0.0
    out = run(sandbox, problem_dir, "# fast\ndef main():\n    return 5", cascade=(("quick_check", 0.5),))
    assert out.ok and out.score == 5.0


def test_interpret_rejects_garbage():
    assert interpret(b"not json", exit_code=0, timed_out=False, duration=0, sandbox="x").reason.startswith(
        "invalid result"
    )
    assert interpret(b"", exit_code=-9, timed_out=False, duration=0, sandbox="x").reason.startswith("crash")
    no_score = interpret(b'{"result": {"speed": 1}}', exit_code=0, timed_out=False, duration=0, sandbox="x")
    assert "no numeric 'score'" in no_score.reason
    ok = interpret(
        b'{"result": {"score": 2, "valid": true, "name": "x"}}', exit_code=0, timed_out=False, duration=0, sandbox="x"
    )
    assert ok.ok and ok.score == 2.0 and ok.metrics["valid"] == 1.0 and "name" not in ok.metrics


def test_interpret_checks_the_score_whatever_comes_before_it():
    import json as _json

    many = {f"m{i}": i for i in range(100)}
    for bad in ("Infinity", "NaN"):
        raw = '{"result": ' + _json.dumps(many)[:-1] + f', "score": {bad}}}}}'
        out = interpret(raw.encode(), exit_code=0, timed_out=False, duration=0, sandbox="x")
        assert not out.ok and "score is not finite" in out.reason
    boolean = interpret(b'{"result": {"score": true}}', exit_code=0, timed_out=False, duration=0, sandbox="x")
    assert not boolean.ok and "no numeric 'score'" in boolean.reason


def test_an_evaluator_that_closes_stdout_keeps_its_score(tmp_path):
    folder = tmp_path / "closer"
    folder.mkdir()
    os.chmod(tmp_path, 0o755)
    (folder / "evaluate.py").write_text(
        "import sys\ndef evaluate(p):\n    print('hi')\n    sys.stdout.close()\n    return {'score': 5.0}\n"
    )
    out = make_sandbox("process", warn=False).evaluate(
        EvalRequest(problem_dir=str(folder), code="# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n", filename="p.py")
    )
    assert out.ok and out.score == 5.0, out.reason


def test_the_machinerys_faults_are_infrastructure_errors(problem_dir, monkeypatch, tmp_path):
    from evolve.errors import InfrastructureError

    # No interpreter to run: not the candidate's fault, so not an outcome of it.
    broken = make_sandbox("process", warn=False, python=str(tmp_path / "no-such-python"))
    with pytest.raises(InfrastructureError, match="no-such-python"):
        run(broken, problem_dir, "def main():\n    return 1")
    # No temporary folder to run in.
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "missing" / "tmp"))
    with pytest.raises(InfrastructureError, match="temporary folder"):
        run(make_sandbox("process", warn=False), problem_dir, "def main():\n    return 1")


# -- the warm runner: each candidate's runner is a fork of a server that imported evaluate.py once ------

PROBE = """
import json, os, stat, tempfile, threading
from evolve_eval import run_candidate

print("imported once")
CALLS = []
{extra}

def kinds():
    out = {{}}
    for fd in range(256):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        out[fd] = "socket" if stat.S_ISSOCK(mode) else "pipe" if stat.S_ISFIFO(mode) else "other"
    return out

def evaluate(program_path):
    CALLS.append(1)
    candidate = run_candidate(program_path, "main", timeout=20)
    return {{"score": float(len(CALLS)), "version": VERSION, "feedback": json.dumps({{
        "pid": os.getpid(), "own_session": os.getsid(0) == os.getpid(), "runner_fds": kinds(),
        "candidate_fds": candidate, "tmp": tempfile.gettempdir(), "cwd": os.getcwd()}})}}
"""

CANDIDATE_FDS = """
import os
def main():
    return sorted(fd for fd in range(256) if not _closed(fd))
def _closed(fd):
    try:
        os.fstat(fd)
        return False
    except OSError:
        return True
"""


def probe_problem(tmp_path, version=1, extra=""):
    folder = tmp_path / "probe"
    folder.mkdir(exist_ok=True)
    os.chmod(tmp_path, 0o755)
    (folder / "evaluate.py").write_text(PROBE.format(extra=f"VERSION = {version}\n{extra}"))
    return str(folder)


def probe(sandbox, folder):
    out = sandbox.evaluate(EvalRequest(problem_dir=folder, code=CANDIDATE_FDS, filename="program.py"))
    assert out.ok, out.reason + out.logs
    return out, json.loads(out.feedback)


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "fresh"])
def test_every_candidate_gets_a_fresh_confined_runner(tmp_path, warm):
    folder = probe_problem(tmp_path)
    with make_sandbox("process", warn=False, warm=warm) as sandbox:
        (first, one), (second, two) = probe(sandbox, folder), probe(sandbox, folder)
    # Nothing of one evaluation reaches the next: a new process, the evaluator's state as imported.
    assert first.score == second.score == 1.0 and one["pid"] != two["pid"]
    for seen in (one, two):
        assert seen["own_session"]
        # The runner holds its result pipe and its capture, and nothing of the server (no socket).
        assert "socket" not in seen["runner_fds"].values(), seen["runner_fds"]
        assert seen["candidate_fds"] == [0, 1, 2]
        assert seen["tmp"] == seen["cwd"] and os.path.basename(seen["cwd"]).startswith("evolve-sbx-")
    # What evaluate.py printed at import is in every evaluation's logs.
    assert "imported once" in first.logs and "imported once" in second.logs


def test_an_edited_evaluator_is_used_at_once(tmp_path):
    folder = probe_problem(tmp_path, version=1)
    with make_sandbox("process", warn=False) as sandbox:
        assert probe(sandbox, folder)[0].metrics["version"] == 1.0
        probe_problem(tmp_path, version=2)
        evaluate_py = os.path.join(folder, "evaluate.py")
        os.utime(evaluate_py, ns=(time.time_ns() + 10**9,) * 2)  # a new time, however coarse the clock
        assert probe(sandbox, folder)[0].metrics["version"] == 2.0


def test_an_evaluator_that_starts_threads_when_imported_still_works(tmp_path):
    extra = "threading.Thread(target=__import__('time').sleep, args=(600,), daemon=True).start()"
    folder = probe_problem(tmp_path, extra=extra)
    with make_sandbox("process", warn=False) as sandbox:
        for _ in range(2):
            out, seen = probe(sandbox, folder)
            assert out.score == 1.0 and seen["candidate_fds"] == [0, 1, 2]


def test_an_evaluator_that_does_not_import_is_its_error_every_time(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    os.chmod(tmp_path, 0o755)
    (folder / "evaluate.py").write_text("import json\n\ndef evaluate(p)\n    return {}\n")
    with make_sandbox("process", warn=False) as sandbox:
        for _ in range(2):
            out = run(sandbox, str(folder), "def main():\n    return 1")
            assert not out.ok and out.reason.startswith("evaluator error") and "SyntaxError" in out.reason


def test_concurrent_evaluations_and_a_server_that_was_killed(problem_dir):
    import signal
    from concurrent.futures import ThreadPoolExecutor

    with make_sandbox("process", warn=False) as box:
        with ThreadPoolExecutor(max_workers=3) as pool:
            outs = list(pool.map(lambda n: run(box, problem_dir, f"def main():\n    return {n}"), range(3)))
        assert [o.score for o in outs] == [0.0, 1.0, 2.0], [o.reason for o in outs]
        servers = [server for idle in box._idle.values() for server in idle]
        assert len(servers) == 3
        for server in servers:
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
        out = run(box, problem_dir, "def main():\n    return 7")  # a new server takes over
        assert out.ok and out.score == 7.0, out.reason


DATACLASS_EVALUATE = """
from __future__ import annotations

from dataclasses import dataclass

from evolve_eval import run_candidate


@dataclass(frozen=True)
class Scored:
    value: float
    label: str = "main"


def evaluate(program_path):
    return {"score": Scored(float(run_candidate(program_path, "main", timeout=20))).value}
"""


def test_an_evaluator_with_postponed_annotations_and_a_dataclass_loads(sandbox, tmp_path):
    # dataclasses looks the class's module up in sys.modules: an evaluate.py loaded without being
    # registered there failed before scoring anything.
    folder = tmp_path / "dataclass"
    folder.mkdir()
    (folder / "evaluate.py").write_text(DATACLASS_EVALUATE)
    os.chmod(tmp_path, 0o755)
    out = run(sandbox, str(folder), "def main():\n    return 7")
    assert out.ok and out.score == 7.0, out.reason
