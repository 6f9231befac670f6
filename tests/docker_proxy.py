"""A Unix-socket forwarder in front of the real Docker engine, which a test can cut and restore.

Cut, its socket file is gone and every open connection is closed, as when dockerd stops or
restarts: a Docker client pointed at it meets a real outage of the engine, while the engine itself
(and every other suite on the machine) is untouched.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
from pathlib import Path

ENGINE_SOCKET = "/var/run/docker.sock"


class DockerProxy:
    def __init__(self, path: Path, engine: str = ENGINE_SOCKET):
        self.path, self.engine = str(path), engine
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> DockerProxy:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(self.path):
            os.unlink(self.path)
        listener.bind(self.path)
        listener.listen(64)
        self._listener = listener
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()
        return self

    def cut(self) -> None:
        """The engine goes away: no new connection, every open one closed."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if os.path.exists(self.path):
            os.unlink(self.path)
        with self._lock:
            for a, b in self._pairs:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
            self._pairs.clear()

    restore = start

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.engine)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        try:
            selector.register(a, selectors.EVENT_READ, b)
            selector.register(b, selectors.EVENT_READ, a)
            while True:
                for key, _ in selector.select(timeout=1.0):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
                if self._stop.is_set():
                    return
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
