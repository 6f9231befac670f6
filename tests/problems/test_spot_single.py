"""spot_single: the baselines score what the README says; broken, cheating and peeking policies
get no score."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.edit.blocks import replace_bodies
from evolve.problem import load_problem

from problem_helpers import evaluate, rejection

FOLDER = Path(__file__).resolve().parents[2] / "problems" / "spot_single"

# README figures; evaluation is deterministic, the tolerance only absorbs float summation order.
GREEDY_TRAIN, GREEDY_HELDOUT = 36.42, 34.98
UNIFORM_TRAIN, UNIFORM_HELDOUT = 43.99, 42.92
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def problem():
    return load_problem(FOLDER)


def with_policy(problem, body: str) -> str:
    return replace_bodies(problem.initial_code, [body])


def test_greedy_initial_program_scores_the_readme_figures(problem, sandbox):
    train = evaluate(sandbox, problem, problem.initial_code)
    assert train.ok, train.reason
    assert train.score == pytest.approx(GREEDY_TRAIN, abs=TOLERANCE)
    assert 0 <= train.metrics["od_share"] <= 1
    assert "Worst cases" in train.feedback and "deadline" in train.feedback
    heldout = evaluate(sandbox, problem, problem.initial_code, heldout=True)
    assert heldout.ok, heldout.reason
    assert heldout.score == pytest.approx(GREEDY_HELDOUT, abs=TOLERANCE)


def test_uniform_progress_baseline_beats_greedy(problem, sandbox):
    code = (FOLDER / "baselines" / "uniform_progress.py").read_text()
    train = evaluate(sandbox, problem, code)
    assert train.ok, train.reason
    assert train.score == pytest.approx(UNIFORM_TRAIN, abs=TOLERANCE)
    heldout = evaluate(sandbox, problem, code, heldout=True)
    assert heldout.score == pytest.approx(UNIFORM_HELDOUT, abs=TOLERANCE)


def test_spot_when_unavailable_is_invalid(problem, sandbox):
    code = with_policy(
        problem,
        """class Policy:
    def __init__(self, job):
        pass

    def step(self, obs):
        return SPOT
""",
    )
    assert "SPOT chosen while spot is unavailable" in rejection(sandbox, problem, code)


def test_missing_the_deadline_is_invalid(problem, sandbox):
    code = with_policy(
        problem,
        """class Policy:
    def __init__(self, job):
        pass

    def step(self, obs):
        return SPOT if obs.has_spot else NONE
""",
    )
    assert "deadline missed" in rejection(sandbox, problem, code)


def test_a_harness_that_reports_a_score_gets_none(problem, sandbox):
    code = problem.initial_code.replace(
        "def run_policy(cases):", "def run_policy(cases):\n    return {'score': 100.0}\n\n\ndef _unused(cases):"
    )
    assert "one action log per case" in rejection(sandbox, problem, code)


def test_a_harness_that_fakes_an_all_spot_log_is_caught_by_the_replay(problem, sandbox):
    code = problem.initial_code.replace(
        "def run_policy(cases):",
        "def run_policy(cases):\n    return [[SPOT] * (c['task'] // c['tick']) for c in cases]\n\n\ndef _unused(cases):",
    )
    assert "SPOT chosen while spot is unavailable" in rejection(sandbox, problem, code)


def test_a_policy_that_peeks_at_future_availability_is_caught(problem, sandbox):
    # Reads the whole trace from the harness's frame and waits whenever spot returns soon.
    code = with_policy(
        problem,
        """import sys


class Policy:
    def __init__(self, job):
        self.avail = sys._getframe(1).f_locals["case"]["avail"]

    def step(self, obs):
        remaining = obs.task - obs.work_done
        if obs.deadline - obs.elapsed - obs.tick < remaining + obs.overhead:
            return ON_DEMAND
        if obs.has_spot:
            return SPOT
        soon = self.avail[obs.tick_index:obs.tick_index + 12]
        return NONE if "1" in soon else ON_DEMAND
""",
    )
    assert "decided differently" in rejection(sandbox, problem, code)


def test_crashing_policy_is_a_recorded_failure(problem, sandbox):
    code = with_policy(
        problem,
        """class Policy:
    def __init__(self, job):
        pass

    def step(self, obs):
        return 1 / 0
""",
    )
    out = evaluate(sandbox, problem, code)
    assert not out.ok and "ZeroDivisionError" in out.reason
