"""Removing sandbox containers: by label, only those whose owner is gone, and at exit.

Every container a Docker sandbox makes is labelled `evolve.sandbox=1`, with its owner (host, pid,
process start time), the sandbox instance and, in an engine run, the run. The labels are how
containers are found again: by a later sandbox (orphans whose owner process died), by the end of
a run (that run's, whichever worker made them), by `evolve sandbox cleanup`, and by tests that
count only their own.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import threading
import weakref
from typing import Protocol

from evolve.sandbox.faults import cause_of, engine_faults, is_engine_gone

LABEL = "evolve.sandbox"
OWNER_LABEL = "evolve.owner"
INSTANCE_LABEL = "evolve.instance"
RUN_LABEL = "evolve.run"

log = logging.getLogger(__name__)


def owner_token(pid: int | None = None) -> str:
    """Names a process across pid reuse: host, pid and the process's start time."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def owner_alive(token: str) -> bool:
    host, _, rest = token.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True  # another machine's: not ours to judge
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass
    return _start_time(pid) == started


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
