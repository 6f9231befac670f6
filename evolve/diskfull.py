"""Whether an error, however wrapped, is a full disk: ENOSPC or a quota from a file, SQLite's
"database or disk is full", PostgreSQL's "could not extend file", raised here or in a Ray actor
(a RayTaskError carries the remote error as its cause, or at least as its text)."""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from evolve.errors import DiskFull
from evolve.kinds import StopKind
from evolve.stop_reason import StopReason

log = logging.getLogger(__name__)

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# What the message of a full disk says, by whom: (words in the error's text, what filled).
_SAID = (
    ("database or disk is full", "the database"),  # SQLite (SQLITE_FULL)
    ("could not extend file", "the database server's disk"),  # PostgreSQL
    ("no space left on device", "the disk"),
    ("disk quota exceeded", "the disk quota"),
)
NO_SPACE = "No space left on device"


@dataclass(frozen=True)
class Full:
    what: str  # "the database", "the disk", ...
    path: str | None = None  # the file that could not be written, when the error names it

    def said(self) -> str:
        return f"{self.what} ({self.path})" if self.path else self.what


def _linked(exc: BaseException) -> list[BaseException]:
    """The errors behind `exc`: its cause and context, a Ray task's cause, a driver's original."""
    found = [getattr(exc, name, None) for name in ("__cause__", "__context__", "cause", "orig")]
    return [e for e in found if isinstance(e, BaseException)]


def filled(exc: BaseException) -> Full | None:
    """What filled up, if `exc` (or any error behind it) is a full disk; None otherwise."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in FULL_ERRNOS:
            return Full("the disk", str(e.filename) if e.filename else None)
        text = str(e).lower()
        for words, what in _SAID:
            if words in text:
                return Full(what)
        todo.extend(_linked(e))
    return None


def disk_full_message(full: Full, resume: str) -> str:
    """The one line a person sees: what filled, and how to go on."""
    return f"{NO_SPACE}: {full.said()} could not be written; free some space and continue with {resume}"


def _where(db_url: str) -> str:
    """The database's file, or its URL without a password."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    return (url.database or "") if url.drivername.startswith("sqlite") else url.render_as_string(hide_password=True)


def stopped_on_full_disk(db, full: Full, run_dir: Path, db_url: str) -> DiskFull:
    """Mark the run interrupted where its database can still be written (a full disk elsewhere);
    where it cannot, the stopped heartbeat reads as interrupted (evolve/store/liveness.py).
    Returns the error to raise: one line, what filled and how to go on."""
    if full.what == "the database" and full.path is None:
        full = replace(full, path=_where(db_url))
    message = disk_full_message(full, f"evolve run --resume {run_dir}")
    try:
        db.finish(StopReason(StopKind.DISK_FULL, message))
    except Exception as exc:  # the same full disk, most likely
        log.warning("the run could not be marked interrupted: %s", exc)
    return DiskFull(message)
