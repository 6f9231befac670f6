"""The cloudcast problem: baseline figures, path checks, cheating candidates, held-out set."""

from pathlib import Path

import pytest

from evolve.problem import load_problem

from problem_helpers import evaluate as _evaluate

ROOT = Path(__file__).resolve().parents[2] / "problems" / "cloudcast"
HEADER = "def run(cases):\n    out = []\n    for c in cases:\n        src, dsts, g, n = c['source'], c['destinations'], c['graph'], c['num_partitions']\n"


@pytest.fixture(scope="module")
def problem():
    return load_problem(ROOT)


def test_initial_program_scores_what_the_readme_says(problem, sandbox):
    outcome = _evaluate(sandbox, problem, problem.initial_code)
    assert outcome.ok, outcome.reason
    assert outcome.score == pytest.approx(7.460, abs=0.01)
    assert outcome.metrics["total_cost"] == pytest.approx(685.01, abs=0.05)
    assert "Least saving" in outcome.feedback


def test_heldout_evaluation_works(problem, sandbox):
    outcome = _evaluate(sandbox, problem, problem.initial_code, heldout=True)
    assert outcome.ok, outcome.reason
    assert outcome.score == pytest.approx(10.960, abs=0.01)


def test_direct_paths_score_zero(problem, sandbox):
    code = HEADER + "        out.append({d: [[src, d]] * n for d in dsts})\n    return out\n"
    outcome = _evaluate(sandbox, problem, code)
    assert outcome.ok, outcome.reason
    assert outcome.score == pytest.approx(0.0, abs=1e-9)


def test_a_missing_link_is_invalid(problem, sandbox):
    # hop through a region with no link out of the source (or no link on to the destination)
    code = HEADER + (
        "        bad = next(r for r in g if r != src and r not in g[src])\n"
        "        out.append({d: [[src, bad, d]] * n for d in dsts})\n    return out\n"
    )
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok and outcome.score is None
    assert "no link" in outcome.reason


def test_a_path_that_does_not_reach_its_destination_is_invalid(problem, sandbox):
    code = HEADER + "        out.append({d: [[src, dsts[0]]] * n for d in dsts})\n    return out\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok
    assert "not at the destination" in outcome.reason


def test_too_few_partitions_is_invalid(problem, sandbox):
    code = HEADER + "        out.append({d: [[src, d]] for d in dsts})\n    return out\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok
    assert "expected 10 paths" in outcome.reason


def test_a_skipped_destination_is_invalid(problem, sandbox):
    code = HEADER + "        out.append({d: [[src, d]] * n for d in dsts[1:]})\n    return out\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok
    assert "no paths for destination" in outcome.reason


def test_reporting_a_cost_gets_no_score(problem, sandbox):
    code = "def run(cases):\n    return [{'cost': 0.0, 'score': 100.0} for _ in cases]\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok and outcome.score is None
