"""What a driver killed at any moment leaves behind, and who removes it.

A run exists once its run row is committed (with its initial program, in one commit). A driver
killed before that leaves a run folder holding only start-up files (the lock, perhaps an empty
database and a log): that is no run. `--resume` of it says so in one line, and the next start of
the same name clears it. A local Ray instance's session folder (/tmp/ray/session_*) is marked
with its driver's owner token when Ray starts; a later driver removes the marked folders whose
driver and Ray processes are gone. Other suites' sessions (unmarked) are never touched.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from evolve.errors import RunError
from evolve.sandbox.owners import owner_alive, owner_token
from evolve.store.db import DB_FILENAME

# What a start writes into a run folder before its run row is committed.
STARTUP_FILES = {
    ".lock",
    "evolve.log",
    DB_FILENAME,
    f"{DB_FILENAME}-wal",
    f"{DB_FILENAME}-shm",
    f"{DB_FILENAME}-journal",
}
SESSION_OWNER = "evolve-owner"  # in a Ray session folder: the token of the driver that started it


def _has_run(db_file: Path) -> bool:
    try:
        con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return True  # unreadable: not ours to judge, so never cleared
    try:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0] > 0
    except sqlite3.OperationalError as exc:
        return "no such table" not in str(exc)  # a file without tables has no run
    finally:
        con.close()


def unstarted(run_dir: Path) -> bool:
    """Whether `run_dir` holds only what a start killed before its first commit leaves."""
    if not run_dir.is_dir():
        return False
    names = {p.name for p in run_dir.iterdir()}
    temporary = {n for n in names if n.startswith(f".{DB_FILENAME}.new-")}
    if not names - {".lock"} or not (names - temporary) <= STARTUP_FILES:
        return False
    return not (DB_FILENAME in names and _has_run(run_dir / DB_FILENAME))


def clear_unstarted(run_dir: Path) -> bool:
    """Empty a folder a killed start left (keeping the lock file, which the caller holds)."""
    if not unstarted(run_dir):
        return False
    for path in run_dir.iterdir():
        if path.name != ".lock":
            path.unlink(missing_ok=True)
    return True


def refuse_unstarted(run_dir: Path) -> None:
    """`--resume` of a run that never started: one line saying what to do instead."""
    if unstarted(run_dir):
        raise RunError(
            f"{run_dir}: this run was stopped while it started, before anything was committed: nothing to "
            f"resume; start it again (evolve run PROBLEM --name {run_dir.name}), which clears this folder"
        )


# -- Ray session folders ---------------------------------------------------------------------------


def mark_session(session_dir: str | Path) -> None:
    """Sign the local Ray session this process started, so that a later driver may remove it."""
    (Path(session_dir) / SESSION_OWNER).write_text(owner_token())


def _command_lines() -> list[bytes]:
    """Every process's command line on this machine (Ray's processes name their session folder)."""
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                lines.append((proc / "cmdline").read_bytes())
            except OSError:
                continue
    return lines


def remove_dead_sessions(ray_root: str | Path) -> list[Path]:
    """Remove the session folders under `ray_root` that evolve marked and whose driver and Ray
    processes are gone; returns those removed."""
    removed: list[Path] = []
    commands: list[bytes] | None = None  # read once, and only if a dead driver's session is found
    for session in sorted(Path(ray_root).glob("session_2*")):
        marker = session / SESSION_OWNER
        try:
            token = marker.read_text().strip()
        except OSError:
            continue  # not evolve's, or not a folder
        if session.is_symlink() or owner_alive(token):
            continue
        commands = _command_lines() if commands is None else commands
        if any(str(session).encode() in line for line in commands):
            continue  # its Ray processes still run
        shutil.rmtree(session, ignore_errors=True)
        removed.append(session)
    latest = Path(ray_root) / "session_latest"
    if latest.is_symlink() and not latest.exists():
        latest.unlink(missing_ok=True)
    return removed
