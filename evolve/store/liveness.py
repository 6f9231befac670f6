"""Whether a run the store calls `running` still has a driver: the driver beats every
HEARTBEAT_SECONDS, and a run whose last beat is older than STALE_SECONDS was killed (SIGKILL, a
lost machine) and reads as interrupted until it is resumed."""

from __future__ import annotations

from datetime import datetime

from evolve.kinds import RunStatus
from evolve.store.models import utcnow

HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 60.0


def effective_status(status: str, heartbeat_at: datetime | None, now: datetime | None = None) -> str:
    if status != RunStatus.RUNNING or heartbeat_at is None:  # rows from before heartbeats: as stored
        return status
    age = ((now or utcnow()) - heartbeat_at).total_seconds()
    return RunStatus.INTERRUPTED if age > STALE_SECONDS else status
