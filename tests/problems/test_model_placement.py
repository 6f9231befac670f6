"""The model_placement problem: baseline figures, constraint checks, cheating candidates, held-out."""

from pathlib import Path

import pytest

from evolve.problem import load_problem

from problem_helpers import evaluate as _evaluate

ROOT = Path(__file__).resolve().parents[2] / "problems" / "model_placement"


@pytest.fixture(scope="module")
def problem():
    return load_problem(ROOT)


def _program(body):
    """A candidate whose placement for one case is computed by `body` (g = gpu_num, ms = models)."""
    return (
        "def run(cases):\n    out = []\n    for c in cases:\n        g, ms = c['gpu_num'], c['models']\n"
        + "".join(f"        {line}\n" for line in body.splitlines())
        + "    return out\n"
    )


def test_initial_program_scores_what_the_readme_says(problem, sandbox):
    outcome = _evaluate(sandbox, problem, problem.initial_code)
    assert outcome.ok, outcome.reason
    assert outcome.score == pytest.approx(0.5507, abs=5e-4)
    assert outcome.metrics["mean_max_pressure"] == pytest.approx(0.1601, abs=5e-4)
    assert "Farthest from the bound" in outcome.feedback


def test_heldout_evaluation_works(problem, sandbox):
    outcome = _evaluate(sandbox, problem, problem.initial_code, heldout=True)
    assert outcome.ok, outcome.reason
    assert outcome.score == pytest.approx(0.6447, abs=5e-4)


def test_round_robin_is_valid_and_scored(problem, sandbox):
    # round-robin over models sorted by size keeps every GPU under 80 GB here
    code = _program(
        "order = sorted(range(len(ms)), key=lambda i: ms[i]['size'])\nout.append([order[k::g] for k in range(g)])"
    )
    outcome = _evaluate(sandbox, problem, code)
    assert outcome.ok, outcome.reason
    assert 0 < outcome.score <= 1


def test_memory_limit_is_enforced(problem, sandbox):
    code = _program("out.append([list(range(len(ms)))] + [[] for _ in range(g - 1)])")
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok and outcome.score is None
    assert "memory limit" in outcome.reason


def test_a_model_placed_twice_is_invalid(problem, sandbox):
    code = _program("out.append([[0]] + [list(range(k, len(ms), g - 1)) for k in range(g - 1)])")
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok
    assert "placed twice" in outcome.reason


def test_placing_nothing_gets_no_score(problem, sandbox):
    code = _program("out.append([[] for _ in range(g)])")
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok and outcome.score is None
    assert "not placed" in outcome.reason


def test_an_invalid_gpu_list_is_rejected(problem, sandbox):
    code = _program("out.append([[i] for i in range(len(ms))])")  # one list per model, not per GPU
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok
    assert "expected a list of" in outcome.reason


def test_reporting_a_pressure_gets_no_score(problem, sandbox):
    code = "def run(cases):\n    return [{'max_pressure': 0.0} for _ in cases]\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok and outcome.score is None
