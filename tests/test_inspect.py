"""The inspection commands against a generated run database, finished and still being written.

The database comes from bench/make_big_run.py (small N), which writes through the store's own
RunWriter, as the engine does. Every figure the commands print is checked against the rows
themselves, read with plain sqlite3.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evolve.inspect import queries
from evolve.inspect.commands import build_app
from evolve.inspect.locate import RunNotFound, locate
from evolve.inspect.report import write_report
from evolve.inspect.summary import summary
from evolve.inspect.server import make_server
from evolve.kinds import FailureKind, Mutation, RunStatus
from evolve.sandbox.base import EvalOutcome
from evolve.store import RunConfig, RunWriter
from evolve.store.db import open_engine, sqlite_url

ROOT = Path(__file__).resolve().parents[1]


def _bench_module():
    spec = importlib.util.spec_from_file_location("make_big_run", ROOT / "bench" / "make_big_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_big_run = _bench_module()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("inspect")
    make_big_run.make_run(work / "runs" / "small", n=300, seed=3)
    return work


@pytest.fixture()
def cli(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    app, runner = build_app(), CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return invoke


def _db(workdir: Path, name: str = "small") -> sqlite3.Connection:
    return sqlite3.connect(workdir / "runs" / name / "evolve.db")


def _facts(con: sqlite3.Connection) -> dict:
    best_score, = con.execute("select max(score) from programs where status='ok'").fetchone()
    best_id, = con.execute("select min(id) from programs where status='ok' and score=?", (best_score,)).fetchone()
    return {
        "best_score": best_score,
        "best_id": best_id,
        "programs": con.execute("select count(*) from programs").fetchone()[0],
        "failed": con.execute("select count(*) from programs where status='failed'").fetchone()[0],
        "calls": con.execute("select count(*) from llm_calls").fetchone()[0],
        "children": con.execute("select count(*) from llm_calls where outcome='child'").fetchone()[0],
        "cost": con.execute("select sum(cost) from llm_calls").fetchone()[0],
    }


# ---------------------------------------------------------------- commands, text and --json


def test_runs_lists_the_run(cli, workdir):
    facts = _facts(_db(workdir))
    text = cli("runs").stdout
    assert "small" in text and "circle_packing" in text and f"{facts['best_score']:.6f}" in text
    rows = json.loads(cli("runs", "--json").stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row["name"] == "small" and row["status"] == "finished"
    assert row["candidates"] == facts["programs"]
    assert row["failed"] == facts["failed"]
    assert row["best_score"] == pytest.approx(facts["best_score"])
    assert row["cost"] == pytest.approx(facts["cost"])
    assert row["duration_s"] > 0


def test_runs_with_db_url(cli, workdir):
    url = sqlite_url(workdir / "runs" / "small")
    rows = json.loads(cli("runs", "--db", url, "--json").stdout)
    assert [r["name"] for r in rows] == ["small"]


def test_show_summary_matches_the_rows(cli, workdir):
    con = _db(workdir)
    facts = _facts(con)
    s = json.loads(cli("show", "small", "--json").stdout)
    assert s["best"]["score"] == pytest.approx(facts["best_score"])
    assert s["best"]["id"] == facts["best_id"]
    assert s["heldout_score"] is not None and s["heldout_score"] <= facts["best_score"]
    # failures grouped by reason add up to the failed programs
    assert sum(f["count"] for f in s["failures"]) == facts["failed"] == s["status_counts"]["failed"]
    assert {f["kind"] for f in s["failures"]} <= {"timeout", "crash", "evaluator error", "invalid result",
                                                "memory", "candidate rejected"}
    assert len(s["failures"]) >= 3
    reasons = {f["reason"] for f in s["failures"]}  # numbers masked: one group per message pattern
    assert "timeout: evaluation ran past N s and was killed" in reasons
    assert "evaluator error: ValueError: circle N lies outside the unit square" in reasons
    # per-model figures
    assert sum(m["calls"] for m in s["models"]) == facts["calls"]
    assert sum(m["children"] for m in s["models"]) == facts["children"]
    assert sum(m["cost"] for m in s["models"]) == pytest.approx(facts["cost"])
    for m in s["models"]:
        assert m["applied_share"] == pytest.approx(m["children"] / m["calls"])
        assert 0 < m["improved_share"] < m["applied_share"]
        improved = con.execute(
            "select count(*) from programs c join llm_calls l on l.id=c.llm_call_id join programs p on "
            "p.id=c.parent_id where c.status='ok' and c.score > p.score and l.model=?", (m["model"],)).fetchone()[0]
        assert m["improved"] == improved
    # best per island
    for isl in s["islands"]:
        top, = con.execute("select max(score) from programs where status='ok' and island=?",
                           (isl["island"],)).fetchone()
        assert isl["score"] == pytest.approx(top)
    assert sum(i["candidates"] for i in s["islands"]) == facts["programs"]
    # rejected edits: every call that made no program
    assert sum(r["count"] for r in s["rejections"]) == facts["calls"] - facts["children"]
    text = cli("show", "small").stdout
    assert f"best score {facts['best_score']:.6f}" in text
    assert "failures by reason" in text and "evaluator error: ValueError: circle N lies outside" in text
    assert "gpt-4.1-mini" in text and "held-out score" in text


def test_best_and_top(cli, workdir, tmp_path):
    con = _db(workdir)
    facts = _facts(con)
    code, = con.execute("select code from programs where id=?", (facts["best_id"],)).fetchone()
    d = json.loads(cli("best", "small", "--json").stdout)
    assert d["brief"]["id"] == facts["best_id"] and d["code"] == code
    assert d["metrics"]["score"] == pytest.approx(facts["best_score"])
    assert d["prompt"] and "SEARCH" in d["answer"]
    text = cli("best", "small").stdout
    assert f"best score {facts['best_score']:.6f}" in text and "def construct_packing" in text
    out = tmp_path / "sub" / "best.py"
    cli("best", "small", "-o", str(out))
    assert out.read_text() == code
    rows = json.loads(cli("top", "small", "-n", "5", "--json").stdout)
    assert len(rows) == 5
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(facts["best_score"])
    assert all(r["status"] == "ok" for r in rows)
    text = cli("top", "small", "-n", "3").stdout
    assert "top 3 of small" in text and str(facts["best_id"]) in text


def test_lineage_runs_from_the_initial_program_to_the_best(cli, workdir):
    con = _db(workdir)
    facts = _facts(con)
    steps = json.loads(cli("lineage", "small", "--json").stdout)
    ids = [s["program"]["id"] for s in steps]
    assert ids[-1] == facts["best_id"]
    assert steps[0]["program"]["parent_id"] is None and steps[0]["program"]["mutation"] == "initial"
    for before, step in zip(steps, steps[1:]):
        assert step["program"]["parent_id"] == before["program"]["id"]
        assert step["delta"] == pytest.approx(step["program"]["score"] - before["program"]["score"])
        assert step["diff"].startswith("---")
    assert len(steps) == steps[-1]["program"]["generation"] + 1
    # an explicit program: its own ancestry
    mid = ids[len(ids) // 2]
    sub = json.loads(cli("lineage", "small", str(mid), "--json").stdout)
    assert [s["program"]["id"] for s in sub] == ids[: len(ids) // 2 + 1]
    text = cli("lineage", "small").stdout
    assert f"lineage of program {facts['best_id']}: {len(steps)} steps" in text
    assert "initial" in text
    text = cli("lineage", "small", str(mid), "--diffs").stdout
    assert f"→ {mid}" in text and "@@" in text


def test_diff(cli, workdir):
    con = _db(workdir)
    facts = _facts(con)
    parent, stored = con.execute("select parent_id, diff from programs where id=?", (facts["best_id"],)).fetchone()
    d = json.loads(cli("diff", "small", "--json").stdout)
    assert d["a"]["id"] == parent and d["b"]["id"] == facts["best_id"]
    assert d["stored"] is True and d["text"] == stored and d["language"] == "python"
    text = cli("diff", "small").stdout
    assert f"program {parent}" in text and f"program {facts['best_id']}" in text and "@@" in text
    # two arbitrary programs: computed
    d = json.loads(cli("diff", "small", "1", str(facts["best_id"]), "--json").stdout)
    assert d["stored"] is False and d["text"].startswith("--- program 1")
    assert any(line.startswith("+") for line in d["text"].splitlines()[2:])
    # one program: against its parent
    d = json.loads(cli("diff", "small", str(facts["best_id"]), "--json").stdout)
    assert d["a"]["id"] == parent
    r = cli("diff", "small", "1", ok=False)
    assert r.exit_code == 1 and "initial program" in r.output


def test_export_jsonl(cli, workdir, tmp_path):
    facts = _facts(_db(workdir))
    out = tmp_path / "all.jsonl"
    r = cli("export", "small", "--format", "jsonl", "-o", str(out))
    assert f"wrote {facts['programs']:,} candidates" in r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == facts["programs"]
    children = [r for r in rows if r["mutation"] != "initial"]
    assert all(r["prompt"] and r["answer"] and r["diff"] and r["model"] for r in children)
    assert all(r["code"] for r in rows)
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(r["metrics"]["score"] == r["score"] for r in ok)
    assert sum(r["improved"] for r in rows) == sum(
        1 for r in ok if r["parent_score"] is not None and r["score"] > r["parent_score"])
    stdout = cli("export", "small", "--no-code").stdout.splitlines()
    assert len(stdout) == facts["programs"] and "code" not in json.loads(stdout[1])
    r = cli("export", "small", "--format", "csv", ok=False)
    assert r.exit_code == 1 and "jsonl" in r.output


def test_report_file(cli, workdir, tmp_path):
    facts = _facts(_db(workdir))
    out = tmp_path / "r" / "report.html"
    cli("report", "small", "-o", str(out))
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "Plotly" in html and len(html) > 3_000_000
    assert "<script src=" not in html  # nothing to fetch: it opens offline
    assert f'"id":{facts["best_id"]}' in html
    for plot in ("plot-timeline", "plot-hist", "plot-grid", "plot-tree", "plot-failures", "plot-models"):
        assert f'id="{plot}"' in html
    cli("report", "small")  # default: next to the run
    assert (workdir / "runs" / "small" / "report.html").stat().st_size > 3_000_000


def test_run_resolution_and_errors(cli, workdir):
    folder = workdir / "runs" / "small"
    url = sqlite_url(folder)
    by_folder = json.loads(cli("top", str(folder), "-n", "1", "--json").stdout)
    by_file = json.loads(cli("top", str(folder / "evolve.db"), "-n", "1", "--json").stdout)
    by_url_id = json.loads(cli("top", "1", "--db", url, "-n", "1", "--json").stdout)
    by_url_name = json.loads(cli("top", "small", "--db", url, "-n", "1", "--json").stdout)
    default = json.loads(cli("top", "-n", "1", "--json").stdout)  # the newest run under runs/
    assert by_folder == by_file == by_url_id == by_url_name == default
    r = cli("show", "nosuch", ok=False)
    assert r.exit_code == 1 and "no run 'nosuch'" in r.output and "small" in r.output
    assert "Traceback" not in r.output
    r = cli("show", "7", "--db", url, ok=False)
    assert r.exit_code == 1 and "no run named or numbered '7'" in r.output
    r = cli("show", "--db", "sqlite:///" + str(workdir / "missing.db"), ok=False)
    assert r.exit_code == 1 and "no database file" in r.output
    assert not (workdir / "missing.db").exists()  # reading never creates a database
    r = cli("lineage", "small", "999999", ok=False)
    assert r.exit_code == 1 and "no program 999999" in r.output
    r = cli("lineage", "small", "abc", ok=False)
    assert r.exit_code == 1 and "must be a program id" in r.output
    with pytest.raises(RunNotFound):
        locate(str(workdir), None)


def test_readers_never_write(workdir):
    ref = locate(str(workdir / "runs" / "small"))
    with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
        with ref.engine.begin() as conn:
            conn.exec_driver_sql("delete from events")


# ---------------------------------------------------------------- the live page's server


def _get(url: str):
    with urllib.request.urlopen(url, timeout=20) as r:
        body = r.read()
        return r.status, r.headers.get("Content-Type"), body


def test_server_endpoints(workdir):
    facts = _facts(_db(workdir))
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
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
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
            assert all(b["program"]["parent_id"] == a["program"]["id"] for a, b in zip(steps, steps[1:]))
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
    best_score, = con.execute("select max(score) from programs where status='ok'").fetchone()
    s = json.loads(runner.invoke(app, ["show", "live", "--json"]).stdout)
    assert s["run"]["status"] == "finished" and s["best"]["score"] == pytest.approx(best_score)
    # what was still being evaluated when the run finished is marked so, not left pending
    assert s["status_counts"].get("interrupted") == 400 // 25 and "pending" not in s["status_counts"]
    steps = json.loads(runner.invoke(app, ["lineage", "live", "--json"]).stdout)
    assert steps[-1]["program"]["id"] == s["best"]["id"]
    engine.dispose()


def test_queries_on_an_empty_run(tmp_path):
    """A run that has only just started: no scores yet, every view still renders."""
    folder = tmp_path / "runs" / "fresh"
    folder.mkdir(parents=True)
    engine = open_engine(sqlite_url(folder), create=True)
    RunWriter.start_run(engine, name="fresh", problem="p", problem_path="p", config=RunConfig({}, {}), seed=0,
                        sandbox="process", mutator="offline", iterations_target=None, initial_code="x = 1\n",
                        initial_hash="h").close()
    ref = locate(str(folder))
    s = summary(ref.engine, ref.run_id)
    assert s.best is None and s.failures == [] and s.models == [] and s.status_counts == {"pending": 1}
    with pytest.raises(queries.QueryError, match="no program has been scored yet"):
        queries.best(ref.engine, ref.run_id)
    html = (write_report(ref.engine, ref.run_id, tmp_path / "r.html")).read_text()
    assert "fresh" in html
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
        return subprocess.run([sys.executable, "-m", "evolve.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)

    out = evolve("run", str(ROOT / "problems" / "circle_packing"), "--iterations", "24", "--sandbox", "process",
                 "--name", "real")
    assert out.returncode == 0, out.stdout + out.stderr
    con = sqlite3.connect(tmp_path / "runs" / "real" / "evolve.db")
    facts = _facts(con)
    out = evolve("show", "real", "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["best"]["score"] == pytest.approx(facts["best_score"])
    assert sum(f["count"] for f in s["failures"]) == facts["failed"]
    assert sum(m["calls"] for m in s["models"]) == facts["calls"]
    out = evolve("lineage", "real", "--json")
    steps = json.loads(out.stdout)
    assert steps[-1]["program"]["id"] == s["best"]["id"] and steps[0]["program"]["parent_id"] is None
    for args in (["runs"], ["show", "real"], ["best", "real"], ["top", "real", "-n", "3"], ["lineage", "real"],
                 ["export", "real", "-o", "real.jsonl"], ["report", "real", "-o", "real.html"]):
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

    _db(workdir)
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


# ---------------------------------------------------------------- failure kinds, old databases


def test_a_failure_kind_is_read_from_its_column(tmp_path):
    """The stored kind decides the group, whatever the reason's text says."""
    folder = tmp_path / "runs" / "kinds"
    folder.mkdir(parents=True)
    engine = open_engine(sqlite_url(folder), create=True)
    writer = RunWriter.start_run(engine, name="kinds", problem="p", problem_path="p", config=RunConfig({}, {}),
                                 seed=0, sandbox="process", mutator="offline", iterations_target=None,
                                 initial_code="x = 1\n", initial_hash="h0")
    assert writer.initial_id is not None
    writer.record_evaluation(writer.initial_id, EvalOutcome(ok=True, score=1.0, sandbox="process"))
    for i, outcome in enumerate([
        EvalOutcome.failure(FailureKind.TIMEOUT, "ran past 5 s", sandbox="process"),
        EvalOutcome(ok=False, score=None, reason="the box fell over: no result", kind=FailureKind.SANDBOX_ERROR),
        EvalOutcome(ok=False, score=None, reason="crash: a sandbox that sets no kind"),  # read off the text
    ], start=1):
        pid = writer.add_child(code=f"x = {i + 1}\n", code_hash=f"h{i}", parent_id=writer.initial_id,
                               inspiration_ids=(), island=0, generation=1, iteration=i, mutation=Mutation.DIFF,
                               diff=None, llm_call_id=None, propose_seconds=None)
        writer.record_evaluation(pid, outcome)
    writer.finish(RunStatus.FINISHED, "done")
    writer.close()
    kinds = {f.kind: f.count for f in summary(locate(str(folder)).engine, 1).failures}
    assert kinds == {"timeout": 1, "sandbox error": 1, "crash": 1}
    con = sqlite3.connect(folder / "evolve.db")
    stored = [k for k, in con.execute("select failure_kind from evaluations where not ok order by id")]
    assert stored == ["timeout", "sandbox error", None]
    engine.dispose()


def test_a_database_from_before_the_failure_kind_column(workdir, tmp_path, monkeypatch):
    """Readers of an older database take kinds from the reasons; opening it to write adds the columns."""
    folder = tmp_path / "runs" / "old"
    folder.mkdir(parents=True)
    source = sqlite3.connect(workdir / "runs" / "small" / "evolve.db")
    copy = sqlite3.connect(folder / "evolve.db")
    source.backup(copy)
    source.close()
    for table in ("programs", "evaluations"):
        copy.execute(f"alter table {table} drop column failure_kind")
    copy.execute("update runs set name = 'old'")
    copy.commit()
    copy.close()

    new = summary(locate(str(workdir / "runs" / "small")).engine, 1)
    old = summary(locate(str(folder)).engine, 1)
    assert [(f.kind, f.reason, f.count) for f in old.failures] == [(f.kind, f.reason, f.count) for f in new.failures]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(build_app(), ["best", "old", "--json"])
    assert result.exit_code == 0, result.output

    from evolve.store.db import add_missing_columns

    engine = open_engine(sqlite_url(folder), create=False)
    assert add_missing_columns(engine) == ["programs.failure_kind", "evaluations.failure_kind"]
    assert add_missing_columns(engine) == []  # once
    engine.dispose()
    again = summary(locate(str(folder)).engine, 1)
    assert [(f.kind, f.count) for f in again.failures] == [(f.kind, f.count) for f in new.failures]
