"""The report and the live page in headless Chromium (Debian's `chromium` package).

Chromium is driven over the Chrome DevTools Protocol with a small stdlib WebSocket client (no
browser download, no extra package): every console error, uncaught exception and failed request is
collected, the plots are checked in the rendered DOM, and a screenshot of each page is kept in
test-artifacts/. Where chromium is missing the tests skip, except under CI (CI set), where they fail.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from evolve.inspect.locate import locate
from evolve.inspect.report import write_report
from evolve.inspect.server import make_server
from evolve.store.db import open_engine, sqlite_url

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _require_chromium() -> str:
    if CHROMIUM:
        return CHROMIUM
    message = "chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(message + ": browser tests must run in CI")
    pytest.skip(message)


def _bench_module():
    spec = importlib.util.spec_from_file_location("make_big_run", ROOT / "bench" / "make_big_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_big_run = _bench_module()


# ---------------------------------------------------------------- a minimal CDP client


class WebSocket:
    """Just enough RFC 6455 for the DevTools protocol: text frames, client masking, fragments."""

    def __init__(self, url: str, timeout: float = 30.0):
        assert url.startswith("ws://")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(head.decode(errors="replace"))

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text: str) -> None:
        data = text.encode()
        header = bytearray([0x81])
        if len(data) < 126:
            header.append(0x80 | len(data))
        elif len(data) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(data))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(data))
        mask = os.urandom(4)
        self.sock.sendall(bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):  # ping/pong: not used by DevTools
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    """A headless Chromium with one page; collects console errors and failed requests."""

    def __init__(self, tmp: Path):
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp))
        self.proc = subprocess.Popen(
            [
                _require_chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--window-size=1400,1000",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                self.quit()
                raise RuntimeError(f"chromium did not start: {err[-2000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = WebSocket(page["webSocketDebuggerUrl"])
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, timeout: float = 60, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        self.ws.sock.settimeout(timeout)
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}")

    def navigate(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and requests that failed."""
        found = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                found.append(
                    "console."
                    + p["type"]
                    + ": "
                    + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))
                )
            elif m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                found.append("exception: " + str(d.get("exception", {}).get("description", d.get("text"))))
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                found.append(f"log.{p['entry']['level']}: {p['entry']['text']} {p['entry'].get('url', '')}")
            elif m == "Network.loadingFailed" and not p.get("canceled"):
                found.append(f"request failed: {p.get('errorText')}")
            elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
                found.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
        return found

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> None:
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": 1400, "height": min(int(size["height"]), 12000), "scale": 1},
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def quit(self) -> None:
        if getattr(self, "ws", None):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture()
def browser(tmp_path):
    b = Browser(tmp_path)
    yield b
    b.quit()


PLOTS = ("plot-timeline", "plot-hist", "plot-grid", "plot-tree", "plot-failures", "plot-models")


def _check_plots(b: Browser) -> None:
    for plot in PLOTS:
        b.wait_for(f"document.querySelector('#{plot} .plot-container svg.main-svg') !== null", timeout=30)
    # real marks, not empty axes: bars, heatmap image, lines and points
    assert b.evaluate("document.querySelectorAll('#plot-hist .bars path').length") > 5
    assert b.evaluate("document.querySelectorAll('#plot-timeline .scatterlayer .trace').length") >= 5
    assert b.evaluate("document.querySelectorAll('#plot-tree .scatterlayer .points path').length") > 10
    assert b.evaluate("document.querySelector('#plot-grid .hm image, #plot-grid image') !== null")


# ---------------------------------------------------------------- the report


def test_report_opens_offline_with_plots_and_the_best_program(browser, tmp_path):
    run_dir = tmp_path / "runs" / "browser-report"
    make_big_run.make_run(run_dir, n=400, seed=5)
    ref = locate(str(run_dir))
    report = write_report(ref.engine, ref.run_id, tmp_path / "report.html")
    best_id, best_score = (
        ref.engine.connect()
        .exec_driver_sql("select id, score from programs where status='ok' order by score desc, id limit 1")
        .one()
    )

    browser.navigate(report.as_uri())
    browser.wait_for("document.body.dataset.rendered === '1'")
    _check_plots(browser)
    assert browser.evaluate("document.getElementById('title').textContent") == "browser-report"
    stats = browser.evaluate("document.getElementById('stats').innerText")
    assert f"{best_score:.4f}" in stats and f"program {best_id}" in stats
    best = browser.evaluate("document.getElementById('best').innerText")
    assert f"Program {best_id}" in best and "def construct_packing" in best
    steps = browser.evaluate("document.querySelectorAll('#lineage details').length")
    assert steps >= 3
    # a lineage step opens onto its coloured diff
    browser.evaluate("document.querySelector('#lineage details').open = true")
    assert browser.evaluate("document.querySelectorAll('#lineage details[open] pre span.add').length") >= 1
    failures = browser.evaluate("document.getElementById('failures').innerText")
    assert "timeout" in failures and "evaluator error" in failures
    assert "gpt-4.1-mini" in browser.evaluate("document.getElementById('models').innerText")
    # offline: nothing but the file itself was requested
    outside = [u for u in browser.requests() if not u.startswith(("file:", "data:"))]
    assert outside == []
    assert browser.problems() == []
    browser.screenshot(ARTIFACTS / "report.png")
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


# ---------------------------------------------------------------- the live page


def test_live_page_refreshes_while_the_run_writes(browser, tmp_path):
    folder = tmp_path / "runs" / "browser-live"
    folder.mkdir(parents=True)
    engine = open_engine(sqlite_url(folder), create=True)
    writer = make_big_run.SyntheticRun(engine, name="browser-live", seed=9, target=600)
    writer.start()
    writer.add(100)
    ref = locate(str(folder))
    server = make_server(ref, port=0, poll_ms=500)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set() and writer.iteration < 600:
            writer.add(5)
            time.sleep(0.05)

    thread = threading.Thread(target=write)
    try:
        browser.navigate(server.url)
        browser.wait_for("+document.body.dataset.rendered >= 1")
        _check_plots(browser)
        first = browser.evaluate("document.getElementById('stats').innerText")
        thread.start()
        # the page polls and redraws with the new candidates
        browser.wait_for("+document.body.dataset.rendered >= 3", timeout=30)
        browser.wait_for(f"document.getElementById('stats').innerText !== {json.dumps(first)}", timeout=30)
        assert "live" in browser.evaluate("document.getElementById('live-state').textContent")
        # the program browser: open the best program and see its code, prompt and answer
        browser.evaluate(
            "document.getElementById('f-sort').value = 'score';"
            "document.getElementById('f-sort').dispatchEvent(new Event('change'))"
        )
        browser.wait_for(
            "document.getElementById('program-list').dataset.sort === 'score' && "
            "document.querySelector('#program-list tr.click') !== null"
        )
        browser.evaluate("document.querySelector('#program-list tr.click').click()")
        browser.wait_for("document.getElementById('program-code') !== null")
        detail = browser.evaluate("document.getElementById('program-detail').innerText")
        assert "def construct_packing" in detail and "Prompt" in detail and "Answer" in detail
        assert "Metrics" in detail and "Feedback" in detail
        browser.evaluate("document.querySelectorAll('#program-detail details').forEach(d => d.open = true)")
        detail = browser.evaluate("document.getElementById('program-detail').innerText")
        assert "You are an expert" in detail and "SEARCH" in detail
        stop.set()
        thread.join(30)
        time.sleep(1.2)  # one more poll after the writer stopped
        browser.evaluate("window.scrollTo(0, 0)")
        assert browser.problems() == []
        browser.screenshot(ARTIFACTS / "live.png")
        assert (ARTIFACTS / "live.png").stat().st_size > 50_000
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(30)
        server.shutdown()
        server.server_close()
        engine.dispose()


# ---------------------------------------------------------------- untrusted text in the plots

HOSTILE = '<a href="https://evil.example">x</a>'


def _hostile_run(run_dir: Path) -> None:
    """A run whose untrusted strings (a feature's metric name, a model's name, a failure's message,
    a mutation) are all markup: what an evaluator or a model could make them."""
    make_big_run.make_run(run_dir, n=300, seed=7)
    engine = open_engine(sqlite_url(run_dir))
    with engine.begin() as conn:
        config = json.loads(conn.exec_driver_sql("select config from runs").scalar_one())
        for dim in config["problem"]["population"]["features"]:
            dim["name"] = f"{dim['name']} {HOSTILE}"
        conn.exec_driver_sql("update runs set config = ?", (json.dumps(config),))
        conn.exec_driver_sql("update llm_calls set model = ? where model = 'gemini-2.5-flash'", (HOSTILE,))
        conn.exec_driver_sql(
            "update programs set error = ? where status = 'failed'", (f"evaluator error: {HOSTILE} & more",)
        )
        conn.exec_driver_sql("update programs set mutation = ?", (HOSTILE,))
    engine.dispose()


def _hover(b: Browser, plot: str, curve: int) -> None:
    """Hover the first point of one trace (Plotly draws one hover label per plot at a time)."""
    b.evaluate(
        f"(() => {{ const gd = document.getElementById('{plot}'); const last = gd.data.length - 1;"
        f" Plotly.Fx.hover(gd, [{{curveNumber: {curve} < 0 ? last : {curve}, pointNumber: 0}}]); }})()"
    )


@pytest.mark.parametrize("page", ["report", "live"])
def test_untrusted_text_in_plots_is_text_never_a_link(browser, tmp_path, page):
    run_dir = tmp_path / "runs" / "hostile"
    _hostile_run(run_dir)
    ref = locate(str(run_dir))
    server = None
    if page == "report":
        browser.navigate(write_report(ref.engine, ref.run_id, tmp_path / "report.html").as_uri())
    else:
        server = make_server(ref, port=0, poll_ms=60_000)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        browser.navigate(server.url)
    try:
        browser.wait_for("+document.body.dataset.rendered >= 1")
        for plot in PLOTS:
            browser.wait_for(f"document.querySelector('#{plot} svg.main-svg') !== null", timeout=30)
        # The hover labels built from untrusted text: the lineage's mutation and model, a model's
        # bar, a failure's whole message.
        for plot, curve in (("plot-tree", -1), ("plot-models", -1), ("plot-failures", 0)):
            _hover(browser, plot, curve)
        # Plotly turns <a href> in a label into an SVG link: none may exist, in any plot.
        assert browser.evaluate("document.querySelectorAll('.js-plotly-plot a').length") == 0
        texts = browser.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot svg text')).map(t => t.textContent).join('\\n')"
        )
        lines = texts.splitlines()
        assert f"min_radius {HOSTILE}" in lines  # the grid's axis title, shown as the text it is
        assert HOSTILE in lines  # a model's name on the models plot's axis
        assert f"program 1 ({HOSTILE} )" in texts.replace("\n", "")  # the lineage's hover: its mutation
        assert f"evaluator error: {HOSTILE} & more" in texts  # a failure's message, its & not an entity
        assert browser.problems() == []
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        ref.engine.dispose()
