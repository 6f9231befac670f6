"""txn_scheduling: the baselines score what the README says; broken and cheating schedulers get
no score; the makespan is the evaluator's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.edit.blocks import replace_bodies
from evolve.problem import load_problem

from problem_helpers import evaluate, rejection

FOLDER = Path(__file__).resolve().parents[2] / "problems" / "txn_scheduling"

# README figures; the baselines are deterministic (seeded), the tolerance absorbs float rounding.
GREEDY_TRAIN, GREEDY_HELDOUT = 1.5536, 1.5040
SMF_TRAIN, SMF_HELDOUT = 1.9370, 1.8111
TOLERANCE = 0.001


@pytest.fixture(scope="module")
def problem():
    return load_problem(FOLDER)


def with_scheduler(problem, body: str) -> str:
    return replace_bodies(problem.initial_code, [body])


def test_greedy_initial_program_scores_the_readme_figures(problem, sandbox):
    train = evaluate(sandbox, problem, problem.initial_code)
    assert train.ok, train.reason
    assert train.score == pytest.approx(GREEDY_TRAIN, abs=TOLERANCE)
    assert train.metrics["total_makespan"] == 1794
    assert "Furthest from the lower bound" in train.feedback
    heldout = evaluate(sandbox, problem, problem.initial_code, heldout=True)
    assert heldout.ok, heldout.reason
    assert heldout.score == pytest.approx(GREEDY_HELDOUT, abs=TOLERANCE)


def test_shortest_makespan_first_baseline(problem, sandbox):
    code = (FOLDER / "baselines" / "shortest_makespan_first.py").read_text()
    train = evaluate(sandbox, problem, code)
    assert train.ok, train.reason
    assert train.score == pytest.approx(SMF_TRAIN, abs=TOLERANCE)
    heldout = evaluate(sandbox, problem, code, heldout=True)
    assert heldout.score == pytest.approx(SMF_HELDOUT, abs=TOLERANCE)


def test_arrival_order_scores_exactly_one(problem, sandbox):
    code = with_scheduler(problem, "def get_schedule(txns, deadline):\n    return list(range(len(txns)))\n")
    out = evaluate(sandbox, problem, code)
    assert out.ok, out.reason
    assert out.score == pytest.approx(1.0)


def test_duplicated_transactions_are_not_a_permutation(problem, sandbox):
    code = with_scheduler(problem, "def get_schedule(txns, deadline):\n    return [0] * len(txns)\n")
    assert "not a permutation" in rejection(sandbox, problem, code)


def test_dropping_transactions_is_invalid(problem, sandbox):
    code = with_scheduler(problem, "def get_schedule(txns, deadline):\n    return list(range(len(txns) // 2))\n")
    assert "entries for 100 transactions" in rejection(sandbox, problem, code)


def test_reporting_a_makespan_instead_of_an_order_gets_no_score(problem, sandbox):
    code = with_scheduler(problem, "def get_schedule(txns, deadline):\n    return 1\n")
    assert "not a list" in rejection(sandbox, problem, code)
    code = problem.initial_code.replace(
        "def schedule_all(workloads, time_limit):",
        "def schedule_all(workloads, time_limit):\n    return {'score': 99.0}\n\n\ndef _unused(workloads, time_limit):",
    )
    assert "one order per workload" in rejection(sandbox, problem, code)


def test_a_faked_helper_does_not_change_the_score(problem, sandbox):
    # A candidate that rewrites the frozen makespan helper to report zero still gets the makespan
    # the evaluator computes.
    code = (
        problem.initial_code.replace("        return self.end", "        return 0")
        + "\n\nmakespan = lambda txns, order: 0\n"
    )
    out = evaluate(sandbox, problem, code)
    assert out.ok, out.reason
    assert out.score == pytest.approx(GREEDY_TRAIN, abs=TOLERANCE)


def test_running_past_the_time_limit_is_a_failure(problem, sandbox):
    code = with_scheduler(problem, "def get_schedule(txns, deadline):\n    while True:\n        pass\n")
    assert "timed out" in rejection(sandbox, problem, code)
