"""`evolve ui`: a live page on loopback that refreshes while the run writes.

A stdlib `ThreadingHTTPServer`. The page polls JSON endpoints; each request reads the database in
one short read-only transaction (see `evolve.inspect.locate.open_reader`), so the engine writing the
run is never blocked.

    GET /                      the page
    GET /static/plotly.js      plotly.js from the installed plotly package
    GET /api/view              every plot's series and the summary tables (views.collect)
    GET /api/programs          one page of programs: ?status=&island=&sort=&limit=&offset=
    GET /api/program/<id>      one program: code, metrics, feedback, diff, prompt, answer, evaluations
    GET /api/health            {"ok": true, "run": name}
    POST /api/hint             a hint for the run's next prompts, or {"clear": true} (hint_post.py)
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from evolve.errors import OptionError
from evolve.inspect import queries
from evolve.inspect.hint_post import MAX_BODY, post_hint, same_origin
from evolve.inspect.locate import RunRef
from evolve.inspect.page import render_live
from evolve.inspect.report import plotly_js
from evolve.inspect.views import collect
from evolve.store.db import open_engine

log = logging.getLogger(__name__)


class InspectServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ref: RunRef, host: str = "127.0.0.1", port: int = 8765, poll_ms: int = 3000, quiet: bool = True):
        self.ref, self.poll_ms, self.quiet = ref, poll_ms, quiet
        self._static: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._writer: Engine | None = None  # opened on the first hint: the page writes nothing else
        if ":" in host:  # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        address, port = self.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def static(self, name: str) -> bytes:
        with self._lock:
            if name not in self._static:
                if name == "plotly.js":
                    self._static[name] = gzip.compress(plotly_js().encode("utf-8"), 6)
                else:
                    islands = queries.run_config(self.ref.engine, self.ref.run_id).islands
                    self._static[name] = render_live(self.ref.name, islands, self.poll_ms).encode("utf-8")
            return self._static[name]

    def writer(self) -> Engine:
        with self._lock:
            if self._writer is None:
                self._writer = open_engine(self.ref.url, create=False)
            return self._writer

    def server_close(self) -> None:
        super().server_close()
        if self._writer is not None:
            self._writer.dispose()


class _Handler(BaseHTTPRequestHandler):
    server: InspectServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        # One line per request: shown with -v unless quiet.
        log.log(logging.DEBUG if self.server.quiet else logging.INFO, "evolve ui: %s", format % args)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data, status: int = 200) -> None:
        body = json.dumps(queries.to_jsonable(data), separators=(",", ":"), allow_nan=False).encode()
        headers = {}
        if len(body) > 4096 and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body, 5)
            headers["Content-Encoding"] = "gzip"
        self._send(status, body, "application/json; charset=utf-8", headers)

    def do_HEAD(self) -> None:
        self.do_GET()

    def _host_allowed(self) -> bool:
        """Answer only requests addressed to this machine's loopback names: a web page that
        rebinds its own domain to 127.0.0.1 (DNS rebinding) must not read the run."""
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        allowed = {"127.0.0.1", "localhost", "[::1]", str(self.server.server_address[0]).lower()}
        return name in allowed

    def do_POST(self) -> None:
        if not self._host_allowed() or not same_origin(self.headers.get("Origin"), self.headers.get("Host") or ""):
            self._json({"error": "forbidden host"}, 403)
            return
        if urlparse(self.path).path != "/api/hint":
            self._json({"error": f"no such page: {self.path}"}, 404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json" or length > MAX_BODY:
            self._json({"error": "send a JSON body (Content-Type: application/json) of at most 16 KB"}, 415)
            return
        try:
            self._json(post_hint(self.server.writer(), self.server.ref.run_id, self.rfile.read(length)))
        except OptionError as exc:
            self._json({"error": str(exc)}, 400)
        except OperationalError as exc:
            self._json({"error": f"database busy: {exc.orig}"}, int(HTTPStatus.SERVICE_UNAVAILABLE))

    def do_GET(self) -> None:
        if not self._host_allowed():
            self._json({"error": "forbidden host"}, 403)
            return
        url = urlparse(self.path)
        path, qs = url.path, parse_qs(url.query)
        ref = self.server.ref
        try:
            if path in ("/", "/index.html"):
                self._send(200, self.server.static("index.html"), "text/html; charset=utf-8")
            elif path == "/static/plotly.js":
                body = self.server.static("plotly.js")
                if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                    self._send(200, body, "application/javascript; charset=utf-8", {"Content-Encoding": "gzip"})
                else:
                    self._send(200, gzip.decompress(body), "application/javascript; charset=utf-8")
            elif path == "/api/health":
                self._json({"ok": True, "run": ref.name, "run_id": ref.run_id})
            elif path == "/api/view":
                self._json(collect(ref.engine, ref.run_id, ref.url))
            elif path == "/api/programs":
                one = lambda k, d=None: (qs.get(k) or [d])[0]  # noqa: E731
                island = one("island")
                total, rows = queries.browse(
                    ref.engine,
                    ref.run_id,
                    status=one("status") or None,
                    island=int(island) if island not in (None, "") else None,
                    sort=one("sort", "-id"),
                    limit=max(1, min(500, int(one("limit", 50)))),
                    offset=max(0, int(one("offset", 0))),
                )
                self._json({"total": total, "programs": rows})
            elif path.startswith("/api/program/"):
                self._json(queries.program(ref.engine, ref.run_id, int(path.rsplit("/", 1)[1])))
            else:
                self._json({"error": f"no such page: {path}"}, 404)
        except queries.QueryError as exc:
            self._json({"error": str(exc)}, 404)
        except (ValueError, OverflowError) as exc:
            self._json({"error": f"bad request: {exc}"}, 400)
        except OperationalError as exc:  # e.g. the database is locked for longer than busy_timeout
            self._json({"error": f"database busy: {exc.orig}"}, int(HTTPStatus.SERVICE_UNAVAILABLE))
        except (BrokenPipeError, ConnectionResetError):
            pass


def make_server(
    ref: RunRef, host: str = "127.0.0.1", port: int = 8765, poll_ms: int = 3000, quiet: bool = True
) -> InspectServer:
    """A server bound to host:port (port 0: any free port; see `.url`). Call serve_forever()."""
    return InspectServer(ref, host, port, poll_ms, quiet)


def serve(
    ref: RunRef,
    host: str = "127.0.0.1",
    port: int = 8765,
    poll_ms: int = 3000,
    open_browser: bool = False,
    quiet: bool = True,
    ready=None,
) -> None:
    server = make_server(ref, host, port, poll_ms, quiet)
    if ready is not None:
        ready(server)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
