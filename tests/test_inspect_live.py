"""The live page's server, and every command while a run is still being written (a thread
commits candidates through the store's RunWriter, as the engine does), and on a real short run."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from run_databases import ROOT, connect, facts_of, make_big_run, small_run
from typer.testing import CliRunner

from evolve.inspect.commands import build_app
from evolve.inspect.locate import locate
from evolve.inspect.report import write_report
from evolve.inspect.server import make_server
from evolve.store.db import open_engine, sqlite_url


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory.mktemp("inspect-live"))


# ---------------------------------------------------------------- the live page's server


def _get(url: str):
    with urllib.request.urlopen(url, timeout=20) as r:
        body = r.read()
        return r.status, r.headers.get("Content-Type"), body


def test_server_endpoints(workdir):
    facts = facts_of(connect(workdir))
    ref = locate(str(workdir / "runs" / "small"))
    server = make_server(ref, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, ctype, body = _get(server.url)
        assert status == 200 and "text/html" in ctype and b"static/plotly.js" in body and b"startLive()" in body
        status, _, body = _get(server.url + "static/plotly.js")
        assert status == 200 and len(body) > 3_000_000
        view = json.loads(_get(server.url + "api/view")[2])
        assert view["summary"]["best"]["id"] == facts["best_id"]
        assert view["best"]["code"].startswith('"""Pack 26 circles')
        assert view["lineage"][-1]["program"]["id"] == facts["best_id"]
        assert view["timeline"]["overall"]["y"][-1] == pytest.approx(facts["best_score"])
        assert sum(view["histogram"]["counts"]) == view["summary"]["status_counts"]["ok"]
        assert view["grid"]["filled"] > 3 and len(view["grid"]["z"]) == 10
        page = json.loads(_get(server.url + "api/programs?sort=score&limit=7")[2])
        assert page["total"] == view["summary"]["status_counts"]["ok"] and len(page["programs"]) == 7
        assert page["programs"][0]["id"] == facts["best_id"]
        failed = json.loads(_get(server.url + "api/programs?status=failed&limit=500")[2])
        assert failed["total"] == facts["failed"] and all(p["status"] == "failed" for p in failed["programs"])
        prog = json.loads(_get(server.url + f"api/program/{facts['best_id']}")[2])
        assert prog["prompt"].startswith("You are an expert") and prog["answer"] and prog["evaluations"]
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(server.url + "api/program/999999")
        assert err.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- a run still being written


def test_commands_while_the_run_is_written(tmp_path, monkeypatch):
    """A thread commits candidates one by one (as the engine does) while every command reads."""
    folder = tmp_path / "runs" / "live"
    folder.mkdir(parents=True)
    engine = open_engine(sqlite_url(folder), create=True)
    writer = make_big_run.SyntheticRun(engine, name="live", seed=11, target=400)
    writer.start()
    writer.add(20)
    errors: list[BaseException] = []
    done = threading.Event()
    commits: list[float] = []

    def write() -> None:
        try:
            while writer.iteration < 400:
                t = time.perf_counter()
                writer.add(1)
                if writer.iteration % 25 == 0:
                    writer.add_pending()
                commits.append(time.perf_counter() - t)
                time.sleep(0.002)
            writer.finish()
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    monkeypatch.chdir(tmp_path)
    app, runner = build_app(), CliRunner()
    ref = locate("live")
    server = make_server(ref, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    thread = threading.Thread(target=write)
    thread.start()
    rounds = 0
    try:
        while not done.is_set() or rounds < 2:
            rounds += 1
            r = runner.invoke(app, ["show", "live", "--json"])
            assert r.exit_code == 0, r.output
            s = json.loads(r.stdout)
            assert sum(f["count"] for f in s["failures"]) == s["status_counts"].get("failed", 0)
            assert sum(s["status_counts"].values()) == s["run"]["candidates"]
            r = runner.invoke(app, ["top", "live", "-n", "3", "--json"])
            assert r.exit_code == 0, r.output
            top = json.loads(r.stdout)
            assert top[0]["score"] >= s["best"]["score"]  # read later: never worse
            r = runner.invoke(app, ["lineage", "live", "--json"])
            assert r.exit_code == 0, r.output
            steps = json.loads(r.stdout)
            assert steps[0]["program"]["parent_id"] is None
            assert all(b["program"]["parent_id"] == a["program"]["id"] for a, b in itertools.pairwise(steps))
            for args in (["diff", "live"], ["best", "live"], ["runs"], ["export", "live", "--no-code"]):
                r = runner.invoke(app, args)
                assert r.exit_code == 0, (args, r.output)
            view = json.loads(_get(server.url + "api/view")[2])
            assert view["lineage"][-1]["program"]["id"] == view["summary"]["best"]["id"]
            assert view["timeline"]["overall"]["y"][-1] == pytest.approx(view["summary"]["best"]["score"])
            write_report(ref.engine, ref.run_id, tmp_path / "report.html")
        thread.join(60)
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors
    assert rounds >= 2
    # the writer was never held up by the readers for long (WAL: readers do not block it)
    assert max(commits) < 5.0
    # once finished, the commands agree with the rows
    con = sqlite3.connect(folder / "evolve.db")
    (best_score,) = con.execute("select max(score) from programs where status='ok'").fetchone()
    s = json.loads(runner.invoke(app, ["show", "live", "--json"]).stdout)
    assert s["run"]["status"] == "finished" and s["best"]["score"] == pytest.approx(best_score)
    # what was still being evaluated when the run finished is marked so, not left pending
    assert s["status_counts"].get("interrupted") == 400 // 25 and "pending" not in s["status_counts"]
    steps = json.loads(runner.invoke(app, ["lineage", "live", "--json"]).stdout)
    assert steps[-1]["program"]["id"] == s["best"]["id"]
    engine.dispose()


# ---------------------------------------------------------------- a run the real engine made


def test_commands_on_a_real_offline_run(tmp_path):
    """`evolve run` (offline mutator, process sandbox) writes the database; the commands read it."""
    pytest.importorskip("evolve.engine.run", reason="the engine is not there yet")
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}

    def evolve(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "evolve.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    out = evolve(
        "run", str(ROOT / "problems" / "circle_packing"), "--iterations", "24", "--sandbox", "process", "--name", "real"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    con = sqlite3.connect(tmp_path / "runs" / "real" / "evolve.db")
    facts = facts_of(con)
    out = evolve("show", "real", "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["best"]["score"] == pytest.approx(facts["best_score"])
    assert sum(f["count"] for f in s["failures"]) == facts["failed"]
    assert sum(m["calls"] for m in s["models"]) == facts["calls"]
    out = evolve("lineage", "real", "--json")
    steps = json.loads(out.stdout)
    assert steps[-1]["program"]["id"] == s["best"]["id"] and steps[0]["program"]["parent_id"] is None
    for args in (
        ["runs"],
        ["show", "real"],
        ["best", "real"],
        ["top", "real", "-n", "3"],
        ["lineage", "real"],
        ["export", "real", "-o", "real.jsonl"],
        ["report", "real", "-o", "real.html"],
    ):
        out = evolve(*args)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
    if s["best"]["parent_id"] is not None:
        out = evolve("diff", "real")
        assert out.returncode == 0 and "@@" in out.stdout, out.stderr
    rows = [json.loads(x) for x in (tmp_path / "real.jsonl").read_text().splitlines()]
    assert len(rows) == facts["programs"]
    assert (tmp_path / "real.html").stat().st_size > 3_000_000


def test_server_refuses_foreign_hosts_and_bad_ids(workdir):
    import http.client

    connect(workdir)
    server = make_server(locate(str(workdir / "runs" / "small")), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]

        def get(path, host):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers={"Host": host})
            response = conn.getresponse()
            return response.status, response.read()

        assert get("/api/health", f"127.0.0.1:{port}")[0] == 200
        assert get("/api/health", f"localhost:{port}")[0] == 200
        # DNS rebinding: a page on evil.example resolved to 127.0.0.1 must not read the run.
        assert get("/api/health", "evil.example")[0] == 403
        assert get("/api/program/99999999999999999999", f"127.0.0.1:{port}")[0] == 400
    finally:
        server.shutdown()
        server.server_close()
