"""Disjoint sets of host CPUs for pinned evaluations (`pin_cpus`), so they never share a core."""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time


class CpuSets:
    """Hands out disjoint sets of host CPUs, so pinned evaluations never share a core.

    One lock file per CPU (`flock`), so the sets are disjoint across threads, across sandboxes
    and across processes on this host (Ray runs each evaluation worker in its own process); a
    lock dies with its process, so a crash never strands a CPU.
    """

    def __init__(self, cpus: list[int], lock_dir: str | None = None):
        self.all = sorted(cpus)
        self.lock_dir = lock_dir or os.path.join(tempfile.gettempdir(), f"evolve-cpusets-{os.getuid()}")
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
        self._held: dict[int, int] = {}  # cpu -> fd, for the sets this object handed out
        self._mutex = threading.Lock()

    def _try(self, cpu: int) -> int | None:
        fd = os.open(os.path.join(self.lock_dir, f"cpu{cpu}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            os.close(fd)
            return None

    def acquire(self, count: int) -> list[int]:
        """`count` CPUs no other holder has; waits until that many are free."""
        count = max(1, min(count, len(self.all)))
        delay = 0.005
        while True:
            taken: dict[int, int] = {}
            with self._mutex:
                for cpu in self.all:
                    if cpu in self._held:
                        continue
                    fd = self._try(cpu)
                    if fd is not None:
                        taken[cpu] = fd
                        if len(taken) == count:
                            self._held.update(taken)
                            return sorted(taken)
                for fd in taken.values():
                    os.close(fd)  # closing drops the lock
            time.sleep(delay)
            delay = min(0.05, delay * 2)

    def release(self, cpus: list[int]) -> None:
        with self._mutex:
            for cpu in cpus:
                fd = self._held.pop(cpu, None)
                if fd is not None:
                    os.close(fd)
