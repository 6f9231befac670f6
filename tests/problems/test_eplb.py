"""The eplb problem: baseline figures, constraint checks, cheating candidates, held-out set."""

from pathlib import Path

import pytest

from evolve.problem import load_problem

from problem_helpers import evaluate as _evaluate

ROOT = Path(__file__).resolve().parents[2] / "problems" / "eplb"

# phy2log = expert e in slot e, then the 32 redundant slots copy experts 0..31
HEADER = "def run(cases, num_replicas, num_groups, num_nodes, num_gpus):\n"


@pytest.fixture(scope="module")
def problem():
    return load_problem(ROOT)


def test_initial_program_scores_what_the_readme_says(problem, sandbox):
    outcome = _evaluate(sandbox, problem, problem.initial_code)
    assert outcome.ok, outcome.reason
    assert outcome.metrics["balancedness"] == pytest.approx(0.8040, abs=5e-4)
    assert 0.72 <= outcome.score <= 0.83
    assert "Worst layers" in outcome.feedback


def test_heldout_evaluation_works(problem, sandbox):
    outcome = _evaluate(sandbox, problem, problem.initial_code, heldout=True)
    assert outcome.ok, outcome.reason
    assert outcome.metrics["balancedness"] == pytest.approx(0.8353, abs=5e-4)


def test_a_valid_naive_placement_is_scored(problem, sandbox):
    code = HEADER + "    return [[[s % 256 for s in range(num_replicas)] for _ in w] for w in cases]\n"
    outcome = _evaluate(sandbox, problem, code)
    assert outcome.ok, outcome.reason
    assert outcome.metrics["balancedness"] < 0.8


def test_an_expert_without_a_replica_is_invalid(problem, sandbox):
    code = (
        HEADER
        + "    return [[[1 if s % 256 == 0 else s % 256 for s in range(num_replicas)] for _ in w] for w in cases]\n"
    )
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok and outcome.score is None
    assert "no replica" in outcome.reason


def test_wrong_slot_count_is_invalid(problem, sandbox):
    code = HEADER + "    return [[list(range(256)) for _ in w] for w in cases]\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok
    assert "expected 288 slots" in outcome.reason


def test_out_of_range_expert_is_invalid(problem, sandbox):
    code = HEADER + "    return [[list(range(288)) for _ in w] for w in cases]\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok
    assert "out of range" in outcome.reason


def test_reporting_a_number_gets_no_score(problem, sandbox):
    code = HEADER + "    return {'balancedness': 1.0, 'score': 1.0}\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok and outcome.score is None
    assert "one phy2log per case" in outcome.reason


def test_placing_nothing_gets_no_score(problem, sandbox):
    code = HEADER + "    return [[] for _ in cases]\n"
    outcome = _evaluate(sandbox, problem, code)
    assert not outcome.ok and outcome.score is None
