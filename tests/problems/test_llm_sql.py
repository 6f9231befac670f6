"""The llm_sql problem: baseline figures, permutation checks, cheating candidates, held-out set."""

from pathlib import Path

import pytest

from evolve.problem import load_problem

from problem_helpers import evaluate as _evaluate

ROOT = Path(__file__).resolve().parents[2] / "problems" / "llm_sql"


@pytest.fixture(scope="module")
def problem():
    return load_problem(ROOT)


def _program(expr):
    """A candidate answering `expr` for every table (n = rows, m = columns)."""
    return (
        "def run(tables):\n    out = []\n    for t in tables:\n"
        "        n, m = len(t['rows']), len(t['columns'])\n"
        f"        out.append({expr})\n    return out\n"
    )


def test_initial_program_scores_what_the_readme_says(problem, sandbox):
    outcome = _evaluate(sandbox, problem, problem.initial_code)
    assert outcome.ok, outcome.reason
    assert outcome.score == pytest.approx(0.2881, abs=5e-4)
    assert outcome.metrics["hit_rate_beer"] == pytest.approx(0.0855, abs=5e-4)
    assert "worst first: beer" in outcome.feedback


def test_heldout_evaluation_works(problem, sandbox):
    outcome = _evaluate(sandbox, problem, problem.initial_code, heldout=True)
    assert outcome.ok, outcome.reason
    assert outcome.score == pytest.approx(0.2880, abs=5e-4)


def test_per_row_field_orders_are_accepted(problem, sandbox):
    outcome = _evaluate(sandbox, problem, _program("(list(range(n)), [list(range(m))[::-1] for _ in range(n)])"))
    assert outcome.ok, outcome.reason
    assert 0 < outcome.score < 1


def test_a_repeated_row_is_invalid(problem, sandbox):
    # sending the first row n times would share everything: it must be rejected
    outcome = _evaluate(sandbox, problem, _program("([0] * n, list(range(m)))"))
    assert not outcome.ok and outcome.score is None
    assert "row_order is not a permutation" in outcome.reason


def test_a_dropped_field_is_invalid(problem, sandbox):
    outcome = _evaluate(sandbox, problem, _program("(list(range(n)), [list(range(m - 1)) for _ in range(n)])"))
    assert not outcome.ok and outcome.score is None
    assert "not a permutation" in outcome.reason


def test_a_dropped_row_is_invalid(problem, sandbox):
    outcome = _evaluate(sandbox, problem, _program("(list(range(n - 1)), list(range(m)))"))
    assert not outcome.ok
    assert "row_order is not a permutation" in outcome.reason


def test_reporting_a_hit_rate_gets_no_score(problem, sandbox):
    outcome = _evaluate(sandbox, problem, _program("{'hit_rate': 1.0}"))
    assert not outcome.ok and outcome.score is None
    assert "must return (row_order, field_orders)" in outcome.reason
