"""Removes a process's sandbox containers once that process is gone, however it died.

A Docker sandbox starts one of these per process (and engine socket), the first time it makes a
container: `python -I -S reaper.py SOCKET_PATH OWNER_TOKEN`, in a session of its own, its stdin a
pipe whose other end only the owner holds. A SIGKILL, an OOM kill or a crash of the owner closes
that pipe; the reaper then removes every container labelled `evolve.owner=OWNER_TOKEN`, sweeps
again for a few minutes (for a container the owner was creating as it died, which a loaded engine
may finish long after) and exits. An owner that ends
normally has removed its containers itself, and the reaper finds none.

The containers end by themselves when their owner's attach connection closes (their bootstrap's
stdin ends, see evaluators/container_bootstrap.py); this removes what is left of them. It speaks
HTTP to the engine's Unix socket with the standard library only, so it starts in a few
milliseconds and never imports evolve (started with -S, it cannot).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

OWNER_LABEL = "evolve.owner"  # evolve.sandbox.cleanup.OWNER_LABEL; a test checks the two agree
# Seconds between sweeps after the owner's end (so at 0, 1, 4, 10, 20, 40, 80 and 160 s): a
# container the owner asked for as it died may appear long after, when a loaded engine completes
# the create anyway; the probe of issue 22 saw two live on for minutes after 3 s of sweeps.
SWEEPS_AFTER = (0.0, 1.0, 3.0, 6.0, 10.0, 20.0, 40.0, 80.0)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60.0):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def _call(socket_path: str, method: str, url: str) -> tuple[int, bytes]:
    connection = _UnixConnection(socket_path)
    try:
        connection.request(method, url)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def sweep(socket_path: str, owner: str) -> int:
    """Remove every container of `owner`; how many went."""
    filters = urllib.parse.quote(json.dumps({"label": [f"{OWNER_LABEL}={owner}"]}))
    status, body = _call(socket_path, "GET", f"/containers/json?all=1&filters={filters}")
    if status != 200:
        return 0
    removed = 0
    for info in json.loads(body):
        status, _ = _call(socket_path, "DELETE", f"/containers/{urllib.parse.quote(info['Id'])}?force=1")
        removed += status in (200, 204)
    return removed


def main() -> None:
    socket_path, owner = sys.argv[1], sys.argv[2]
    try:
        while os.read(0, 65536):
            pass  # the owner never writes: this ends when its end of the pipe closes
    except OSError:
        pass
    for delay in SWEEPS_AFTER:
        time.sleep(delay)
        try:
            sweep(socket_path, owner)
        except (OSError, ValueError, http.client.HTTPException):
            pass  # the engine is gone too: the next sandbox's orphan sweep removes them


if __name__ == "__main__":
    main()
