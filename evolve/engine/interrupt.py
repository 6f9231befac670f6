"""Ctrl-C during a run: the first stops launching new work and lets what is in flight finish (its
results are stored); the second stops at once."""

from __future__ import annotations

import signal
import threading
from typing import Any


class InterruptFlag:
    """First Ctrl-C: stop launching and finish what is in flight. Second: stop now."""

    def __init__(self) -> None:
        # Installed by the run's start when it sends its first proposals (evolve/engine/run.py),
        # so a Ctrl-C during the start lets the run take in the answers it paid for.
        self.requested = False
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None
