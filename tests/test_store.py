"""The store's writer: failure kinds in their own column, and databases from before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from run_databases import small_run
from typer.testing import CliRunner

from evolve.inspect.commands import build_app
from evolve.inspect.locate import locate
from evolve.inspect.summary import summary
from evolve.kinds import FailureKind, Mutation, StopKind
from evolve.sandbox.base import EvalOutcome
from evolve.stop_reason import StopReason
from evolve.store import RunConfig, RunWriter
from evolve.store.db import add_missing_columns, open_engine, sqlite_url


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory.mktemp("store"))


def test_a_failure_kind_is_read_from_its_column(tmp_path):
    """The stored kind decides the group, whatever the reason's text says."""
    folder = tmp_path / "runs" / "kinds"
    folder.mkdir(parents=True)
    engine = open_engine(sqlite_url(folder), create=True)
    writer = RunWriter.start_run(
        engine,
        name="kinds",
        problem="p",
        problem_path="p",
        config=RunConfig({}, {}),
        seed=0,
        sandbox="process",
        mutator="offline",
        iterations_target=None,
        initial_code="x = 1\n",
        initial_hash="h0",
    )
    assert writer.initial_id is not None
    writer.record_evaluation(writer.initial_id, EvalOutcome(ok=True, score=1.0, sandbox="process"))
    for i, outcome in enumerate(
        [
            EvalOutcome.failure(FailureKind.TIMEOUT, "ran past 5 s", sandbox="process"),
            EvalOutcome(ok=False, score=None, reason="the box fell over: no result", kind=FailureKind.SANDBOX_ERROR),
            EvalOutcome(ok=False, score=None, reason="crash: a sandbox that sets no kind"),  # read off the text
        ],
        start=1,
    ):
        pid = writer.add_child(
            code=f"x = {i + 1}\n",
            code_hash=f"h{i}",
            parent_id=writer.initial_id,
            inspiration_ids=(),
            island=0,
            generation=1,
            iteration=i,
            mutation=Mutation.DIFF,
            diff=None,
            llm_call_id=None,
            propose_seconds=None,
        )
        writer.record_evaluation(pid, outcome)
    writer.finish(StopReason(StopKind.COMPLETED, "done"))
    writer.close()
    kinds = {f.kind: f.count for f in summary(locate(str(folder)).engine, 1).failures}
    assert kinds == {"timeout": 1, "sandbox error": 1, "crash": 1}
    con = sqlite3.connect(folder / "evolve.db")
    stored = [k for (k,) in con.execute("select failure_kind from evaluations where not ok order by id")]
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

    engine = open_engine(sqlite_url(folder), create=False)
    assert add_missing_columns(engine) == ["programs.failure_kind", "evaluations.failure_kind"]
    assert add_missing_columns(engine) == []  # once
    engine.dispose()
    again = summary(locate(str(folder)).engine, 1)
    assert [(f.kind, f.count) for f in again.failures] == [(f.kind, f.count) for f in new.failures]
