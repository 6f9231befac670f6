"""Every shipped problem goes through a short offline run on the engine, held-out scoring included."""

from pathlib import Path

import pytest

from evolve.check import local_gpus
from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.problem import load_problem

PROBLEMS = sorted(
    p.name for p in (Path(__file__).resolve().parents[2] / "problems").iterdir() if (p / "problem.toml").is_file()
)


def test_every_problem_is_listed():
    assert len(PROBLEMS) >= 9 and "circle_packing" in PROBLEMS


@pytest.mark.parametrize("name", PROBLEMS)
def test_short_offline_run(name, ray_local, tmp_path):
    problem = load_problem(Path(__file__).resolve().parents[2] / "problems" / name)
    if problem.config.evaluation.gpus > local_gpus():
        pytest.skip(f"{name} asks for evaluation.gpus = {problem.config.evaluation.gpus:g}; this machine has fewer")
    result = evolve_run(
        problem, RunOptions(iterations=4, eval_workers=2, sandbox="process"), runs_root=tmp_path, run_name=name
    )
    assert result.status == "finished" and result.progress.completed == 4
    best = result.best
    assert best is not None and best.score is not None and best.initial_score is not None
    assert best.score >= best.initial_score
    if problem.config.evaluation.heldout_function:
        assert best.heldout_score is not None and best.initial_heldout_score is not None
    assert (tmp_path / name / "summary.json").is_file()
