"""The command line as a user meets it: check, and an offline run."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def evolve(*args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_check_passes_on_circle_packing(tmp_path):
    out = evolve("check", str(ROOT / "problems" / "circle_packing"), "--sandbox", "process", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] and abs(result["score"] - 1.80038) < 1e-4


def test_check_fails_clearly_on_a_broken_folder(tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder)
    (folder / "problem.toml").write_text((folder / "problem.toml").read_text() + "\n[evaluation.extra]\nx = 1\n")
    out = evolve("check", str(folder), "--sandbox", "process", cwd=tmp_path)
    assert out.returncode != 0
    assert "problem.toml" in out.stderr and "evaluation.extra" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_fails_when_the_initial_program_is_invalid(tmp_path):
    folder = tmp_path / "invalid"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder)
    program = folder / "initial_program.py"
    program.write_text(program.read_text().replace("margin = 0.1", "margin = -0.2"))
    out = evolve("check", str(folder), "--sandbox", "process", cwd=tmp_path)
    assert out.returncode == 1
    assert "fails its evaluation" in out.stderr and "negative radius" in out.stderr


def test_offline_run_of_40_candidates(tmp_path):
    out = evolve(
        "run",
        str(ROOT / "problems" / "circle_packing"),
        "--iterations",
        "40",
        "--sandbox",
        "process",
        "--name",
        "offline",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "mutator: offline" in out.stdout.splitlines()[0]
    # What it can change in circle_packing's block, by kind, on the next line.
    assert re.match(
        r"offline mutator: \d+ arithmetic operators, \d+ constants, .* in the blocks$", out.stdout.splitlines()[1]
    )
    summary = json.loads((tmp_path / "runs" / "offline" / "summary.json").read_text())
    assert summary["candidates"] == 40 and summary["mutator"] == "offline"
    assert summary["best_score"] >= summary["initial_score"]
    best = (tmp_path / "runs" / "offline" / "best" / "initial_program.py").read_text()
    assert "EVOLVE-BLOCK-START" in best


def test_run_refuses_missing_resources(tmp_path):
    folder = tmp_path / "gpu"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder)
    toml = (folder / "problem.toml").read_text().replace("memory_mb = 1024", "memory_mb = 1024\ngpus = 1")
    (folder / "problem.toml").write_text(toml)
    out = evolve("run", str(folder), "--iterations", "2", "--sandbox", "process", cwd=tmp_path)
    assert out.returncode == 1
    assert "evaluation.gpus = 1" in out.stderr and "GPU" in out.stderr
