"""What a run stored is printed as it is: `evolve show` of a run whose candidates returned too
large a result names `[evaluation] max_result_kb` whole (Rich read `[evaluation]` as a markup tag
and printed "raise  max_result_kb"), and so does the `evolve show --db` error path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.problem import load_problem

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = "# EVOLVE-BLOCK-START\ndef main():\n    return 1.5 + 2\n# EVOLVE-BLOCK-END\n"
EVALUATE = """
import os

def evaluate(program_path):
    initial = open(os.path.join(os.path.dirname(__file__), "program.py")).read()
    if open(program_path).read() == initial:
        return {"score": 1.0}
    return {"score": 2.0, "blob": "x" * 8192}
"""


def test_show_prints_the_result_size_reason_whole(ray_local, tmp_path):
    folder = tmp_path / "blob"
    folder.mkdir()
    (folder / "problem.toml").write_text(
        'name = "blob"\ndescription = "large results"\nprogram = "program.py"\n'
        "[evaluation]\ntimeout = 30\nmax_result_kb = 1\n"
    )
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluate.py").write_text(EVALUATE)
    result = evolve_run(
        load_problem(folder),
        RunOptions(iterations=2, eval_workers=1, llm_concurrency=1, sandbox="process"),
        runs_root=tmp_path / "runs",
        run_name="blob",
    )
    assert result.progress.failed >= 1
    # `evolve eval` of a candidate with too large a result: the status row says it whole.
    candidate = tmp_path / "candidate.py"
    candidate.write_text(PROGRAM.replace("1.5", "2.5"))
    scored = _evolve("eval", str(folder), str(candidate), "--sandbox", "process", cwd=tmp_path)
    assert scored.returncode == 1
    assert "raise [evaluation] max_result_kb in problem.toml" in " ".join(scored.stdout.split()), scored.stdout
    # `evolve show`: the grouped failure reason and its example are printed as stored.
    shown = _evolve("show", "blob", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "raise [eval" in shown.stdout and "raise  " not in shown.stdout, shown.stdout


def _evolve(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=120,
    )
