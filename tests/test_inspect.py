"""The inspection commands against a generated run database (bench/make_big_run.py, small N,
written through the store's own RunWriter). Every figure the commands print is checked against
the rows themselves, read with plain sqlite3. The live page and a run still being written:
test_inspect_live.py."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from run_databases import connect, facts_of, small_run
from typer.testing import CliRunner

from evolve.inspect import queries
from evolve.inspect.commands import build_app
from evolve.inspect.locate import RunNotFound, locate
from evolve.inspect.report import write_report
from evolve.inspect.summary import summary
from evolve.store import RunConfig, RunWriter
from evolve.store.db import open_engine, sqlite_url


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory.mktemp("inspect"))


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


# ---------------------------------------------------------------- commands, text and --json


def test_runs_lists_the_run(cli, workdir):
    facts = facts_of(connect(workdir))
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
    con = connect(workdir)
    facts = facts_of(con)
    s = json.loads(cli("show", "small", "--json").stdout)
    assert s["best"]["score"] == pytest.approx(facts["best_score"])
    assert s["best"]["id"] == facts["best_id"]
    assert s["heldout_score"] is not None and s["heldout_score"] <= facts["best_score"]
    # failures grouped by reason add up to the failed programs
    assert sum(f["count"] for f in s["failures"]) == facts["failed"] == s["status_counts"]["failed"]
    assert {f["kind"] for f in s["failures"]} <= {
        "timeout",
        "crash",
        "evaluator error",
        "invalid result",
        "memory",
        "candidate rejected",
    }
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
            "p.id=c.parent_id where c.status='ok' and c.score > p.score and l.model=?",
            (m["model"],),
        ).fetchone()[0]
        assert m["improved"] == improved
    # best per island
    for isl in s["islands"]:
        (top,) = con.execute(
            "select max(score) from programs where status='ok' and island=?", (isl["island"],)
        ).fetchone()
        assert isl["score"] == pytest.approx(top)
    assert sum(i["candidates"] for i in s["islands"]) == facts["programs"]
    # rejected edits: every call that made no program
    assert sum(r["count"] for r in s["rejections"]) == facts["calls"] - facts["children"]
    text = cli("show", "small").stdout
    assert f"best score {facts['best_score']:.6f}" in text
    assert "failures by reason" in text and "evaluator error: ValueError: circle N lies outside" in text
    assert "gpt-4.1-mini" in text and "held-out score" in text


def test_best_and_top(cli, workdir, tmp_path):
    con = connect(workdir)
    facts = facts_of(con)
    (code,) = con.execute("select code from programs where id=?", (facts["best_id"],)).fetchone()
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
    con = connect(workdir)
    facts = facts_of(con)
    steps = json.loads(cli("lineage", "small", "--json").stdout)
    ids = [s["program"]["id"] for s in steps]
    assert ids[-1] == facts["best_id"]
    assert steps[0]["program"]["parent_id"] is None and steps[0]["program"]["mutation"] == "initial"
    for before, step in itertools.pairwise(steps):
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
    con = connect(workdir)
    facts = facts_of(con)
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
    facts = facts_of(connect(workdir))
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
        1 for r in ok if r["parent_score"] is not None and r["score"] > r["parent_score"]
    )
    stdout = cli("export", "small", "--no-code").stdout.splitlines()
    assert len(stdout) == facts["programs"] and "code" not in json.loads(stdout[1])
    r = cli("export", "small", "--format", "csv", ok=False)
    assert r.exit_code == 1 and "jsonl" in r.output


def test_report_file(cli, workdir, tmp_path):
    facts = facts_of(connect(workdir))
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
    with pytest.raises(Exception, match=r"readonly|read-only|query_only|attempt to write"), ref.engine.begin() as conn:
        conn.exec_driver_sql("delete from events")


def test_queries_on_an_empty_run(tmp_path):
    """A run that has only just started: no scores yet, every view still renders."""
    folder = tmp_path / "runs" / "fresh"
    folder.mkdir(parents=True)
    engine = open_engine(sqlite_url(folder), create=True)
    RunWriter.start_run(
        engine,
        name="fresh",
        problem="p",
        problem_path="p",
        config=RunConfig(),
        seed=0,
        sandbox="process",
        mutator="offline",
        iterations_target=None,
        initial_code="x = 1\n",
        initial_hash="h",
    ).close()
    ref = locate(str(folder))
    s = summary(ref.engine, ref.run_id)
    assert s.best is None and s.failures == [] and s.models == [] and s.status_counts == {"pending": 1}
    with pytest.raises(queries.QueryError, match="no program has been scored yet"):
        queries.best(ref.engine, ref.run_id)
    html = (write_report(ref.engine, ref.run_id, tmp_path / "r.html")).read_text()
    assert "fresh" in html
    engine.dispose()
