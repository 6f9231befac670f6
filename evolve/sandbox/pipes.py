"""Reading a runner's result pipe, bounded in time and in size."""

from __future__ import annotations

import os
import selectors
import time
from enum import StrEnum


class Ended(StrEnum):
    """How reading the runner's result pipe ended."""

    EOF = "eof"
    TIMEOUT = "timeout"
    OVERFLOW = "overflow"  # more than the result line may hold: stop reading, refuse it


def read_bounded(fd: int, deadline: float, limit: int) -> tuple[bytes, Ended]:
    """The pipe until it ends, the deadline passes or `limit` bytes came."""
    data = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return bytes(data), Ended.TIMEOUT
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return bytes(data), Ended.EOF
            data += chunk
            if len(data) > limit:
                return b"", Ended.OVERFLOW
