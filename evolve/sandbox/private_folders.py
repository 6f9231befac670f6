"""The process sandbox's private folders: each named after its owner (pid and start time), so a
new sandbox removes those whose owner is gone, killing whatever still runs inside them first."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

from evolve.errors import InfrastructureError
from evolve.sandbox.base import EvalRequest
from evolve.sandbox.images import SKIP_PARTS
from evolve.sandbox.owners import process_alive, start_time

NOBODY = 65534
TMP_PREFIX = "evolve-sbx-"
_STALE = re.compile(rf"{TMP_PREFIX}(\d+)-(\d+)-")


def candidate_folder(request: EvalRequest, drop: bool) -> str:
    """The evaluation's private folder, with the candidate in it (read-only)."""
    folder = make_private_folder(drop)
    candidate = Path(folder) / request.filename
    try:
        candidate.write_text(request.code)
        if drop:
            os.chown(candidate, NOBODY, NOBODY)
        os.chmod(candidate, 0o444)
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise InfrastructureError(
            f"cannot write the candidate to {candidate} ({exc}): free space in {tempfile.gettempdir()}"
        ) from exc
    return folder


def make_private_folder(drop: bool, kind: str = "") -> str:
    """A new temporary folder named after this process (pid and start time), owned by nobody when `drop`."""
    pid = os.getpid()
    try:
        folder = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{pid}-{start_time(pid)}-{kind}")
        if drop:
            os.chown(folder, NOBODY, NOBODY)
    except OSError as exc:
        raise InfrastructureError(
            f"cannot make a temporary folder for the evaluation ({exc}): "
            f"free space or fix permissions in {tempfile.gettempdir()}"
        ) from exc
    return folder


def reap_stale_folders(parent: str | None = None) -> int:
    """Remove the process sandbox's folders whose owner is gone (killing what still runs inside
    them first); returns how many. A sandbox does it when it starts."""
    parent = parent or tempfile.gettempdir()
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(TMP_PREFIX) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    stale = []
    for entry in entries:
        match = _STALE.match(entry.name)
        if match and not process_alive(int(match[1]), match[2]):
            stale.append(entry.path)
    if stale:
        _kill_processes_in(stale)
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return len(stale)


def _kill_processes_in(folders: list[str]) -> None:
    """SIGKILL every process whose working directory is inside one of `folders`."""
    inside = tuple(os.path.realpath(f) for f in folders)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if any(cwd == f or cwd.startswith(f + os.sep) for f in inside):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def listing_digest(folder: str) -> str:
    """A digest of what is in the folder (names, sizes, modification times), caches and runs left out."""
    digest = hashlib.blake2b(digest_size=16)
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_PARTS)
        for name in sorted(files):
            try:
                st = os.lstat(os.path.join(here, name))
            except OSError:
                continue
            digest.update(f"{here}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def reachable_by_others(path: str) -> bool:
    """Whether `nobody` could use this path: every parent directory must be world-searchable."""
    current = Path(path).resolve()
    return all(os.stat(part).st_mode & 0o001 for part in [current, *current.parents] if part.is_dir())
