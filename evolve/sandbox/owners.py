"""Which process owns a sandbox's leftovers, named so that a reused pid does not pass for it.

A token is `host:pid:start`, the start being the process's start time in clock ticks after boot
(/proc/PID/stat): containers carry it as a label, the process sandbox's temporary folders in their
name (`evolve-sbx-PID-START-...`), and whatever outlives its owner is removed by whoever finds it.
"""

from __future__ import annotations

import os
import socket


def start_time(pid: int) -> str:
    """The process's start time (clock ticks after boot), "?" where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def owner_token(pid: int | None = None) -> str:
    """Names a process across pid reuse: host, pid and the process's start time."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_time(pid)}"


def process_alive(pid: int, started: str) -> bool:
    """Whether the process `pid` that started at `started` (on this host) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start_time(pid) == started


def owner_alive(token: str) -> bool:
    host, _, rest = token.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True  # another machine's: not ours to judge
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    return process_alive(pid, started)
