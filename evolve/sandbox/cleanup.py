"""Removing sandbox containers: by label, only those whose owner is gone, and at exit.

Every container a Docker sandbox makes is labelled `evolve.sandbox=1`, with its owner (host, pid,
process start time), the sandbox instance and, in an engine run, the run. The labels are how
containers are found again: by a later sandbox (orphans whose owner process died), by the end of
a run (that run's, whichever worker made them), by `evolve sandbox cleanup`, and by tests that
count only their own.

A process that dies without closing its sandboxes (SIGKILL, the OOM killer) leaves its containers
to end by themselves (their stdin, the owner's attach connection, closes) and to its reaper
(`reaper.py`, started by `watch_owner` with the first container), which removes them.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
import weakref
from typing import Protocol

from evolve.sandbox.faults import cause_of, engine_faults, is_engine_gone
from evolve.sandbox.owners import owner_alive, owner_token  # noqa: F401  (owner_token: re-exported)

LABEL = "evolve.sandbox"
OWNER_LABEL = "evolve.owner"
INSTANCE_LABEL = "evolve.instance"
RUN_LABEL = "evolve.run"

log = logging.getLogger(__name__)


def remove_container(api, cid: str) -> bool:
    """Force-remove one container; False when it was already gone (or going)."""
    import docker

    try:
        api.remove_container(cid, force=True)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise
        return False


def cleanup_containers(client=None, orphans_only: bool = False, run: str | None = None) -> int:
    """Remove containers labelled `evolve.sandbox=1`; returns how many.

    `orphans_only`: only those whose owning process (on this host) is gone, so that a second
    run or a Ray worker on the same engine keeps its own. `run`: only that run's containers
    (an engine run removes its own pools at the end, whichever worker process made them).
    Raises DockerUnavailable when the engine does not answer.
    """
    with engine_faults(client):
        if client is None:
            import docker

            client = docker.from_env(timeout=60)
        api = client.api
        removed = 0
        labels = [f"{LABEL}=1"] + ([f"{RUN_LABEL}={run}"] if run else [])
        for info in api.containers(all=True, filters={"label": labels}):
            owner = (info.get("Labels") or {}).get(OWNER_LABEL, "")
            if orphans_only and owner and owner_alive(owner):
                continue
            try:
                removed += remove_container(api, info["Id"])
            except Exception as exc:
                if is_engine_gone(exc) and not _answers(api):
                    raise
                # One container the engine is slow to remove does not keep the others.
                log.warning("could not remove container %s: %s", info["Id"][:12], cause_of(exc))
        return removed


def _answers(api) -> bool:
    try:
        api.ping()
        return True
    except Exception:
        return False


# -- after the owner's death -------------------------------------------------------------------------

_reapers: dict[tuple[int, str], int] = {}  # (pid, engine socket) -> our end of the reaper's pipe
_reapers_lock = threading.Lock()


def engine_socket(api) -> str | None:
    """The engine's Unix socket path, None when the client reaches it another way (tcp, ssh)."""
    adapter = getattr(api, "_custom_adapter", None)
    path = getattr(adapter, "socket_path", None) if type(adapter).__name__ == "UnixHTTPAdapter" else None
    return path.removeprefix("unix://") if path else None


def watch_owner(api, owner: str) -> bool:
    """Make sure a reaper removes this process's containers (label `owner`) once it is gone, by
    whatever death; started once per process and engine. False where none can be (an engine not
    on a Unix socket: the containers still end by themselves, and the next sweep removes them)."""
    path = engine_socket(api)
    if path is None:
        return False
    key = (os.getpid(), path)
    with _reapers_lock:
        if key in _reapers:
            return True
        from evolve.sandbox import reaper

        read_end, write_end = os.pipe()  # both non-inheritable; only the reaper gets read_end
        try:
            subprocess.Popen(
                [sys.executable, "-I", "-S", reaper.__file__, path, owner],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                start_new_session=True,  # a Ctrl-C to our process group leaves it to do its work
            )
        except OSError as exc:
            os.close(write_end)
            log.warning("could not start the reaper of this process's containers: %s", exc)
            return False
        finally:
            os.close(read_end)
        _reapers[key] = write_end  # held until this process ends, however it ends
        return True


# -- at exit ---------------------------------------------------------------------------------------


class Closable(Protocol):
    def close(self) -> None: ...


_live: weakref.WeakSet = weakref.WeakSet()


def close_at_exit(sandbox: Closable) -> None:
    """Close `sandbox` (removing its containers) at interpreter exit and on SIGTERM, if still open."""
    _live.add(sandbox)
    _install_sigterm()


def closed(sandbox: Closable) -> None:
    _live.discard(sandbox)


def _close_all() -> None:
    for sandbox in list(_live):
        try:
            sandbox.close()
        except Exception as exc:  # exiting anyway: the next sandbox's orphan sweep gets them
            log.warning("could not close a Docker sandbox at exit: %s", exc)


atexit.register(_close_all)


def _install_sigterm() -> None:
    """Turn SIGTERM into SystemExit (so finally blocks and atexit remove our containers), but only
    where nobody else has claimed the signal (Ray workers have their own handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(128 + signum)
