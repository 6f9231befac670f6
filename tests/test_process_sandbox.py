"""The process sandbox: limits, failures with reasons, a result channel the candidate cannot forge."""

import json
import os

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
