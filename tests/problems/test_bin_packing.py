"""bin_packing: best fit scores what the README says, FunSearch's published heuristics reproduce
their published figures on our generator; invalid and offline (cheating) packings get no score."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.edit.blocks import replace_bodies
from evolve.problem import load_problem

from problem_helpers import evaluate, rejection

FOLDER = Path(__file__).resolve().parents[2] / "problems" / "bin_packing"

# README figures (excess over the L1 bound, %); packing is deterministic.
BEST_FIT_TRAIN, BEST_FIT_HELDOUT = -5.1334, -5.2348
TOLERANCE = 0.001


@pytest.fixture(scope="module")
def problem():
    return load_problem(FOLDER)


def with_harness(problem, body: str) -> str:
    """Replace the frozen `pack` harness (as a cheating candidate would)."""
    return problem.initial_code.replace("def pack(instances):", body + "\n\n\ndef _original_pack(instances):")


def test_best_fit_initial_program_scores_the_readme_figures(problem, sandbox):
    train = evaluate(sandbox, problem, problem.initial_code)
    assert train.ok, train.reason
    assert train.score == pytest.approx(BEST_FIT_TRAIN, abs=TOLERANCE)
    assert train.metrics["excess_weibull"] == pytest.approx(4.05, abs=0.01)
    assert "Worst instances" in train.feedback
    heldout = evaluate(sandbox, problem, problem.initial_code, heldout=True)
    assert heldout.ok, heldout.reason
    assert heldout.score == pytest.approx(BEST_FIT_HELDOUT, abs=TOLERANCE)


def test_funsearch_heuristics_reproduce_their_published_figures(problem, sandbox):
    # Published: OR3 3.11%, Weibull 5k 0.68% (best fit: 5.37% and 3.98%).
    out = evaluate(sandbox, problem, (FOLDER / "baselines" / "funsearch_or.py").read_text())
    assert out.ok, out.reason
    assert out.metrics["excess_or3"] == pytest.approx(3.11, abs=0.3)
    out = evaluate(sandbox, problem, (FOLDER / "baselines" / "funsearch_weibull.py").read_text())
    assert out.ok, out.reason
    assert out.metrics["excess_weibull"] == pytest.approx(0.68, abs=0.3)


def test_overfull_bins_are_invalid(problem, sandbox):
    code = with_harness(problem, "def pack(instances):\n    return [[0] * len(i['items']) for i in instances]")
    assert "overflows" in rejection(sandbox, problem, code)


def test_placing_nothing_is_invalid(problem, sandbox):
    code = with_harness(problem, "def pack(instances):\n    return [[] for i in instances]")
    assert "every item must be placed exactly once" in rejection(sandbox, problem, code)


def test_reporting_a_bin_count_gets_no_score(problem, sandbox):
    code = with_harness(problem, "def pack(instances):\n    return [{'bins': 1} for i in instances]")
    assert "not a list" in rejection(sandbox, problem, code)
    code = with_harness(problem, "def pack(instances):\n    return 42")
    assert "one assignment per instance" in rejection(sandbox, problem, code)


def test_offline_packing_is_caught_by_the_online_audit(problem, sandbox):
    # Best fit decreasing: sorts all items first, which an online heuristic cannot do.
    code = with_harness(
        problem,
        """def pack(instances):
    out = []
    for inst in instances:
        items = inst["items"]
        bins = np.full(len(items), float(inst["capacity"]))
        assignment = [0] * len(items)
        for k in sorted(range(len(items)), key=lambda k: -items[k]):
            valid = np.nonzero(bins - items[k] >= 0)[0]
            best = int(valid[int(np.argmax(priority(float(items[k]), bins[valid])))])
            bins[best] -= items[k]
            assignment[k] = best
        out.append(assignment)
    return out""",
    )
    assert "online packing" in rejection(sandbox, problem, code)


def test_priority_with_wrong_types_is_a_recorded_failure(problem, sandbox):
    code = replace_bodies(problem.initial_code, ["def priority(item, bins):\n    return 'best'\n"])
    out = evaluate(sandbox, problem, code)
    assert not out.ok and out.score is None
