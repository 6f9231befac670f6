"""Reading a container's output over Docker's attach socket: stdout and stderr apart, bounded."""

from __future__ import annotations

import time

from evolve.sandbox.base import MAX_RESULT_BYTES

MAX_STDERR_BYTES = 16 * 1024


def raw_socket(sock):
    """The plain socket under what `APIClient.attach_socket` returns (it wraps it on some versions)."""
    return getattr(sock, "_sock", sock)


class AttachStream:
    """Reads docker's multiplexed attach stream (8-byte frame headers) up to a deadline.

    stdout is the runner's result channel: its first newline ends the result, and more than
    MAX_RESULT_BYTES is an overflow. stderr (only the bootstrap's own, and the runner's before it
    takes fd 2 over) is kept to MAX_STDERR_BYTES.
    """

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.out = bytearray()
        self.err = bytearray()
        self.out_overflow = False
        self.complete = False  # the runner's one result line has arrived (it ends with the only newline)

    def read_until_eof(self, deadline: float) -> bool:
        """True at EOF or once the result line is complete, False when the deadline passed first."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(262144)
            except TimeoutError:  # socket.timeout is TimeoutError since 3.10
                return False
            except OSError:
                return True
            if not chunk:
                return True
            self.buf += chunk
            self._frames()
            if self.out_overflow or self.complete:
                return True

    def _frames(self) -> None:
        while len(self.buf) >= 8:
            size = int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < 8 + size:
                return
            stream, payload = self.buf[0], bytes(self.buf[8 : 8 + size])
            del self.buf[: 8 + size]
            if stream == 1:
                if len(self.out) + len(payload) > MAX_RESULT_BYTES:
                    self.out_overflow = True
                    return
                self.out += payload
                if b"\n" in payload:
                    self.complete = True
            elif stream == 2 and len(self.err) < MAX_STDERR_BYTES:
                self.err += payload[: MAX_STDERR_BYTES - len(self.err)]
