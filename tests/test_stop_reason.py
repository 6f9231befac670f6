"""evolve/stop_reason.py and the driver's stop decisions: they follow the kind, never the words."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from evolve.engine.driver import Driver
from evolve.engine.inflight import InFlight
from evolve.engine.interrupt import InterruptFlag
from evolve.engine.machinery import INFRA_BROKEN, Outage
from evolve.engine.options import Progress, RunOptions
from evolve.kinds import RunStatus, StopKind
from evolve.stop_reason import StopReason


def make_driver(**options) -> Driver:
    """A driver with no run behind it: enough for the decisions that read only its own state."""
    return Driver(None, None, None, None, (), RunOptions(iterations=7, **options), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "status", "evaluates_more"),
    [
        (StopKind.COMPLETED, RunStatus.FINISHED, True),
        (StopKind.INTERRUPTED, RunStatus.STOPPED, False),
        (StopKind.WALL_TIME, RunStatus.STOPPED, True),
        (StopKind.BUDGET, RunStatus.STOPPED, True),
        (StopKind.TARGET_SCORE, RunStatus.STOPPED, True),
        (StopKind.PATIENCE, RunStatus.STOPPED, True),
        (StopKind.CALLS_FAILING, RunStatus.FAILED, True),
        (StopKind.INFRA_BROKEN, RunStatus.FAILED, False),
        (StopKind.INITIAL_FAILED, RunStatus.FAILED, True),
        (StopKind.DISK_FULL, RunStatus.INTERRUPTED, True),
    ],
)
def test_the_status_and_what_follows_come_from_the_kind(kind, status, evaluates_more):
    # Words that begin like another kind's change nothing.
    reason = StopReason(kind, f"{INFRA_BROKEN}: the model calls keep failing, interrupted by the user (Ctrl-C)")
    assert (reason.status, reason.evaluates_more) == (status, evaluates_more)


def test_str_is_the_words_so_messages_read_as_before():
    reason = StopReason(StopKind.PATIENCE, "no better program in the last 4 evaluations (patience 4)")
    assert str(reason) == reason.text and f"stopped: {reason}" == f"stopped: {reason.text}"
    assert reason != reason.text  # a value, not a string: compare kinds, or str() it


def test_a_reason_worded_like_a_broken_machinery_does_not_drop_what_is_in_flight():
    driver, flights, interrupt = make_driver(), InFlight(), InterruptFlag()
    try:
        flights.waiting_for_slot.append("ticket")
        worded = StopReason(StopKind.PATIENCE, f"{INFRA_BROKEN} (not really): patience 3")
        assert driver._stopping(worded, interrupt, flights) == worded
        assert list(flights.waiting_for_slot) == ["ticket"]  # still evaluated before the run ends
        broken = StopReason(StopKind.INFRA_BROKEN, "Docker is gone")
        assert driver._stopping(broken, interrupt, flights) == broken
        assert not flights.waiting_for_slot  # no node can take them: left pending, marked interrupted
    finally:
        interrupt.restore()


def test_the_ending_rewords_a_budget_stop_and_only_a_budget_stop():
    driver = make_driver(max_cost=0.5)
    driver.progress = replace(driver.progress, cost=0.4999)
    budget = driver._ending(StopReason(StopKind.BUDGET, "cost budget reached"))
    assert budget.kind == StopKind.BUDGET and budget.text.startswith("cost budget of $0.5 reached: $0.4999 spent")
    worded = StopReason(StopKind.TARGET_SCORE, "cost budget reached")  # the budget's words, another kind
    assert driver._ending(worded) is worded
    completed = driver._ending(None)
    assert (completed.kind, completed.text, completed.status) == (
        StopKind.COMPLETED,
        "completed 7 iterations",
        RunStatus.FINISHED,
    )


def test_each_stop_condition_gives_its_kind():
    driver = make_driver(patience=4, target_score=2.0, infra_wait=1.0)
    assert driver.stop_reason() is None
    driver.progress = Progress(since_best=4)
    assert driver.stop_reason() == StopReason(
        StopKind.PATIENCE, "no better program in the last 4 evaluations (patience 4)"
    )
    driver.progress = Progress(best_score=2.5)
    target = driver.stop_reason()
    assert target is not None and target.kind == StopKind.TARGET_SCORE
    driver.progress = Progress()
    now = time.monotonic()
    driver.machinery.outage = Outage(since=now - 5, faults=3, cause="the Docker engine does not answer", retry_at=now)
    broken = driver.stop_reason()
    assert broken is not None and broken.kind == StopKind.INFRA_BROKEN and broken.status == RunStatus.FAILED
    assert str(broken).startswith(f"{INFRA_BROKEN} (3 tries over 5 s): the Docker engine")
    driver.failing_calls, driver.last_call_error = driver.failing_calls_limit, "AuthenticationError: bad key"
    failing = driver.stop_reason()  # the calls' failure is said first
    assert failing is not None and failing.kind == StopKind.CALLS_FAILING and "bad key" in failing.text
