"""A run whose driver was killed reads as interrupted, not running forever."""

from datetime import timedelta

from evolve.kinds import RunStatus
from evolve.store.liveness import STALE_SECONDS, effective_status
from evolve.store.models import utcnow


def test_a_running_run_whose_heartbeat_stopped_reads_as_interrupted():
    now = utcnow()
    fresh = now - timedelta(seconds=STALE_SECONDS / 2)
    stale = now - timedelta(seconds=STALE_SECONDS + 1)
    assert effective_status(RunStatus.RUNNING, fresh, now) == RunStatus.RUNNING
    assert effective_status(RunStatus.RUNNING, stale, now) == RunStatus.INTERRUPTED


def test_finished_runs_and_rows_from_before_heartbeats_read_as_stored():
    stale = utcnow() - timedelta(hours=1)
    assert effective_status(RunStatus.FINISHED, stale) == RunStatus.FINISHED
    assert effective_status(RunStatus.RUNNING, None) == RunStatus.RUNNING
