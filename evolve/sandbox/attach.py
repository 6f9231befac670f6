"""Reading a container's output over Docker's attach socket: stdout and stderr apart, bounded."""

from __future__ import annotations

import socket
import time

MAX_STDERR_BYTES = 16 * 1024


def raw_socket(sock):
    """The plain socket under what `APIClient.attach_socket` returns (it wraps it on some versions)."""
    return getattr(sock, "_sock", sock)


def hang_up(sock) -> None:
    """End the attach connection for good. Closing what `attach_socket` returns is not enough: the
    SDK's response keeps the connection open, the engine goes on pushing the container's output
    into it, and removing that container then waits for the engine's copy (a minute, then a
    ReadTimeout) while the output is large."""
    raw = raw_socket(sock)
    for end in (lambda: raw.shutdown(socket.SHUT_RDWR), raw.close, sock.close):
        try:
            end()
        except OSError:
            pass


class AttachStream:
    """Reads docker's multiplexed attach stream (8-byte frame headers) up to a deadline.

    stdout is the runner's result channel: its first newline ends the result, and more than
    `max_out_bytes` is an overflow (reading stops there). stderr (only the bootstrap's own, and
    the runner's before it takes fd 2 over) is kept to MAX_STDERR_BYTES.
    """

    def __init__(self, sock, max_out_bytes: int):
        self.sock = sock
        self.max_out_bytes = max_out_bytes
        self.buf = bytearray()
        self.out = bytearray()
        self.err = bytearray()
        self.out_overflow = False
        self.complete = False  # the runner's one result line has arrived (it ends with the only newline)

    def read_until_eof(self, deadline: float) -> bool:
        """True at EOF, once the result line is complete or too long; False when the deadline passed first."""
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
            stream, size = self.buf[0], int.from_bytes(self.buf[4:8], "big")
            if stream == 1 and len(self.out) + size > self.max_out_bytes:
                self.out_overflow = True  # known from the frame's header: no need to buffer it
                return
            if len(self.buf) < 8 + size:
                return
            payload = bytes(self.buf[8 : 8 + size])
            del self.buf[: 8 + size]
            if stream == 1:
                self.out += payload
                if b"\n" in payload:
                    self.complete = True
            elif stream == 2 and len(self.err) < MAX_STDERR_BYTES:
                self.err += payload[: MAX_STDERR_BYTES - len(self.err)]
