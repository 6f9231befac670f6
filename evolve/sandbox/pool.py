"""Containers started ahead of time, a few per PoolKey, each handed out once.

Creating and starting a container costs about 100 ms, and the bootstrap can wait before any job
exists, so a sandbox keeps `size` started containers per key. Taking one schedules a replacement
in the background; a container is never given a second candidate (the caller removes it after
its one evaluation). At most `max_pools` keys keep containers, the least recently used going
first, and a container is handed out for at most POOL_MAX_AGE seconds after it started.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Lock

from evolve.sandbox.container import PoolKey

POOL_MAX_AGE = 600  # well before the bootstrap's own idle exit (container.IDLE_SECONDS)

log = logging.getLogger(__name__)


class ContainerPool:
    """`start(key)` makes and starts a container (raising when it cannot); `remove(cid)` removes
    one and never raises. Both are called from a background thread too."""

    def __init__(self, size: int, max_pools: int, start: Callable[[PoolKey], str], remove: Callable[[str], object]):
        self.size = max(0, int(size))
        self.max_pools = max(1, int(max_pools))
        self._start, self._remove = start, remove
        self._lock = Lock()
        self._ready: collections.OrderedDict[PoolKey, collections.deque[tuple[str, float]]] = collections.OrderedDict()
        self._pending: collections.Counter[PoolKey] = collections.Counter()
        self._closed = False
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="evolve-docker")

    def ready(self) -> list[str]:
        """The containers waiting to be taken, of every key."""
        with self._lock:
            return [cid for queue in self._ready.values() for cid, _ in queue]

    def take(self, key: PoolKey) -> str | None:
        """A started container for `key`, or None when none is ready."""
        stale: list[str] = []
        found = None
        with self._lock:
            queue = self._ready.get(key)
            if queue is not None:
                self._ready.move_to_end(key)
                while queue:
                    cid, born = queue.popleft()
                    if time.monotonic() - born < POOL_MAX_AGE:
                        found = cid
                        break
                    stale.append(cid)
        for cid in stale:
            self.remove_later(cid)
        return found

    def refill(self, key: PoolKey) -> None:
        """Start, in the background, what `key`'s pool lacks (evicting the oldest key's if there are too many)."""
        if self.size == 0:
            return
        evicted: list[str] = []
        with self._lock:
            if self._closed:
                return
            queue = self._ready.setdefault(key, collections.deque())
            self._ready.move_to_end(key)
            while len(self._ready) > self.max_pools:
                _, old = self._ready.popitem(last=False)
                evicted += [cid for cid, _ in old]
            missing = self.size - len(queue) - self._pending[key]
            self._pending[key] += max(0, missing)
        for cid in evicted:
            self.remove_later(cid)
        for _ in range(max(0, missing)):
            try:
                self._background.submit(self._add_one, key)
            except RuntimeError:  # shut down meanwhile
                with self._lock:
                    self._pending[key] -= 1

    def _add_one(self, key: PoolKey) -> None:
        try:
            cid = self._start(key)
        except Exception as exc:  # the next evaluation starts its own container and says what is wrong
            with self._lock:
                self._pending[key] -= 1
            log.warning("could not pre-start a container from %s: %s", key.limits.image, str(exc).strip()[:300] or exc)
            return
        with self._lock:
            self._pending[key] -= 1
            queue = self._ready.get(key)
            if not self._closed and queue is not None:
                queue.append((cid, time.monotonic()))
                return
        self._remove(cid)

    def remove_later(self, cid: str) -> None:
        """Remove a container in the background (now, when the pool is closed)."""
        with self._lock:
            closed = self._closed
        if not closed:
            try:
                self._background.submit(self._remove, cid)
                return
            except RuntimeError:  # executor shut down
                pass
        self._remove(cid)

    def close(self) -> None:
        """Hand out nothing more and wait for the background work; the caller removes what is left."""
        with self._lock:
            self._closed = True
            self._ready.clear()
        self._background.shutdown(wait=True, cancel_futures=True)
