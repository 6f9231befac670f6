"""spot_multi: the baselines score what the README says; broken, cheating and peeking policies
get no score."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.edit.blocks import replace_bodies
from evolve.problem import load_problem

from problem_helpers import evaluate, rejection

FOLDER = Path(__file__).resolve().parents[2] / "problems" / "spot_multi"

# README figures; evaluation is deterministic, the tolerance only absorbs float summation order.
GREEDY_TRAIN, GREEDY_HELDOUT = 46.35, 49.13
RRUP_TRAIN, RRUP_HELDOUT = 50.59, 49.51
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def problem():
    return load_problem(FOLDER)


def with_policy(problem, body: str) -> str:
    return replace_bodies(problem.initial_code, [body])


def test_round_robin_greedy_initial_program_scores_the_readme_figures(problem, sandbox):
    train = evaluate(sandbox, problem, problem.initial_code)
    assert train.ok, train.reason
    assert train.score == pytest.approx(GREEDY_TRAIN, abs=TOLERANCE)
    assert train.metrics["mean_moves"] > 0
    assert "Worst cases" in train.feedback and "regions" in train.feedback
    heldout = evaluate(sandbox, problem, problem.initial_code, heldout=True)
    assert heldout.ok, heldout.reason
    assert heldout.score == pytest.approx(GREEDY_HELDOUT, abs=TOLERANCE)


def test_round_robin_uniform_progress_baseline(problem, sandbox):
    code = (FOLDER / "baselines" / "round_robin_uniform_progress.py").read_text()
    train = evaluate(sandbox, problem, code)
    assert train.ok, train.reason
    assert train.score == pytest.approx(RRUP_TRAIN, abs=TOLERANCE)
    heldout = evaluate(sandbox, problem, code, heldout=True)
    assert heldout.score == pytest.approx(RRUP_HELDOUT, abs=TOLERANCE)


def test_spot_when_unavailable_is_invalid(problem, sandbox):
    code = with_policy(
        problem,
        """class Policy:
    def __init__(self, job):
        pass

    def step(self, obs):
        return obs.region, SPOT
""",
    )
    assert "while spot is unavailable" in rejection(sandbox, problem, code)


def test_blind_spot_in_another_region_is_invalid(problem, sandbox):
    code = with_policy(
        problem,
        """class Policy:
    def __init__(self, job):
        pass

    def step(self, obs):
        if obs.has_spot:
            return obs.region, SPOT
        return (obs.region + 1) % obs.n_regions, SPOT
""",
    )
    assert "move there first" in rejection(sandbox, problem, code)


def test_missing_the_deadline_is_invalid(problem, sandbox):
    code = with_policy(
        problem,
        """class Policy:
    def __init__(self, job):
        pass

    def step(self, obs):
        return (obs.region, SPOT) if obs.has_spot else ((obs.region + 1) % obs.n_regions, NONE)
""",
    )
    assert "deadline missed" in rejection(sandbox, problem, code)


def test_a_harness_that_reports_a_score_gets_none(problem, sandbox):
    code = problem.initial_code.replace(
        "def run_policy(cases):", "def run_policy(cases):\n    return 100.0\n\n\ndef _unused(cases):"
    )
    assert "one action log per case" in rejection(sandbox, problem, code)


def test_a_harness_that_fakes_an_all_spot_log_is_caught_by_the_replay(problem, sandbox):
    code = problem.initial_code.replace(
        "def run_policy(cases):",
        "def run_policy(cases):\n    return [[[0, SPOT]] * (c['task'] // c['tick']) for c in cases]\n\n\ndef _unused(cases):",
    )
    assert "while spot is unavailable" in rejection(sandbox, problem, code)


def test_a_policy_that_peeks_at_other_regions_and_the_future_is_caught(problem, sandbox):
    # Reads every region's whole trace from the harness's frame and jumps straight to the region
    # whose spot capacity lasts longest from now on.
    code = with_policy(
        problem,
        """import sys


class Policy:
    def __init__(self, job):
        self.avail = sys._getframe(1).f_locals["case"]["avail"]

    def step(self, obs):
        remaining = obs.task - obs.work_done
        if obs.deadline - obs.elapsed - obs.tick < remaining + obs.overhead:
            return obs.region, ON_DEMAND
        if obs.has_spot:
            return obs.region, SPOT
        t = obs.tick_index + 1
        run = [len(a[t:]) - len(a[t:].lstrip("1")) for a in self.avail]
        return max(range(obs.n_regions), key=run.__getitem__), NONE
""",
    )
    assert "decided differently" in rejection(sandbox, problem, code)


def test_bad_action_shape_is_invalid(problem, sandbox):
    code = with_policy(
        problem,
        """class Policy:
    def __init__(self, job):
        pass

    def step(self, obs):
        return obs.n_regions, NONE
""",
    )
    assert "not a region and a kind" in rejection(sandbox, problem, code)
