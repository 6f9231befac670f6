"""A user's mistake is one line on stderr naming the value, exit 1, and nothing half-made."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = ROOT / "problems" / "circle_packing"


def evolve(*args, cwd, timeout=300):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.update({k: v for k, v in __import__("os").environ.items() if k in ("PYTHONPATH", "VIRTUAL_ENV")})
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _one_error_line(out, traceback_expected: bool = False) -> str:
    assert out.returncode == 1, out.stdout + out.stderr
    assert traceback_expected or "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--db", "notaurl"], "--db 'notaurl'"),
        (["--db", "sqlite:////nonexistent-dir/x/evolve.db"], "does not open"),
        (["--name", "../../escape"], "--name '../../escape'"),
        (["-m", "some/model@0"], "weight must be more than 0"),
        (["-m", "some/model@x"], "--model 'some/model@x'"),
        (["--max-seconds", "-1"], "--max-seconds -1"),
        (["--ray-address", "127.0.0.1:1"], "--ray-address 127.0.0.1:1"),
        (["--sandbox", "nosuch"], "--sandbox 'nosuch'"),
    ],
)
def test_a_bad_option_is_one_line_and_leaves_no_run_folder(tmp_path, args, names):
    out = evolve(
        "run", str(PROBLEM), "--iterations", "1", "--sandbox", "process", "--runs-dir", "runs", *args, cwd=tmp_path
    )
    assert names in _one_error_line(out)
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True
    assert not (tmp_path.parent / "escape").exists()


def test_the_same_name_twice_is_refused_before_anything_runs(tmp_path):
    first = evolve("run", str(PROBLEM), "-n", "1", "--sandbox", "process", "--name", "once", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = evolve("run", str(PROBLEM), "-n", "1", "--sandbox", "process", "--name", "once", cwd=tmp_path)
    assert "already exists" in _one_error_line(again) and "--resume" in again.stderr


def test_resume_of_a_folder_without_a_database(tmp_path):
    assert "no evolve.db" in _one_error_line(evolve("run", "--resume", str(tmp_path), cwd=tmp_path))


def test_an_evaluator_that_raises_is_named_with_its_line_and_traceback(tmp_path):
    folder = tmp_path / "circle_packing"
    shutil.copytree(PROBLEM, folder)
    source = (folder / "evaluate.py").read_text().splitlines()
    at = next(i for i, line in enumerate(source) if line.startswith("def evaluate(")) + 1
    source.insert(at, '    raise LookupError("no table here")')
    (folder / "evaluate.py").write_text("\n".join(source) + "\n")
    out = evolve("check", str(folder), "--sandbox", "process", cwd=tmp_path)
    line = _one_error_line(out, traceback_expected=True)
    assert f"{folder / 'evaluate.py'}:" in line and f"evaluate.py line {at + 1}: LookupError: no table here" in line
    assert "Traceback (most recent call last)" in out.stderr  # evaluate.py's own, shown to its author


def test_eval_scores_any_file_and_version_answers(tmp_path):
    candidate = tmp_path / "mine.py"
    candidate.write_text((PROBLEM / "initial_program.py").read_text().replace("0.1", "0.0999", 1))
    out = evolve("eval", str(PROBLEM), str(candidate), "--sandbox", "process", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert '"ok": true' in out.stdout
    broken = tmp_path / "broken.py"
    broken.write_text("def construct_packing(:\n")
    out = evolve("eval", str(PROBLEM), str(broken), "--sandbox", "process", cwd=tmp_path)
    assert out.returncode == 1 and f"{broken}:" in out.stderr
    version = evolve("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("evolve ")


def test_the_same_run_twice_at_once_is_refused_while_the_first_goes_on(tmp_path):
    import os
    import time

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env = {k: v for k, v in env.items() if not k.endswith("_API_KEY")}
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evolve.cli",
            "run",
            str(PROBLEM),
            "-n",
            "400",
            "--sandbox",
            "process",
            "--name",
            "busy",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = tmp_path / "runs" / "busy" / ".lock"
        deadline = time.monotonic() + 120
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
        again = evolve("run", str(PROBLEM), "-n", "1", "--sandbox", "process", "--name", "busy", cwd=tmp_path)
        assert f"in use by evolve (pid {first.pid})" in _one_error_line(again)
    finally:
        first.kill()
        first.wait()
