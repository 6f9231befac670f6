"""The store's writer: failure kinds in their own column, and databases from before it."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from run_databases import small_run
from sqlalchemy import select
from typer.testing import CliRunner

from evolve.inspect.commands import build_app
from evolve.inspect.locate import locate
from evolve.inspect.summary import summary
from evolve.kinds import AnswerForm, CallOutcome, FailureKind, Mutation, StopKind
from evolve.sandbox.base import EvalOutcome
from evolve.stop_reason import StopReason
from evolve.store import CallRow, Insight, LLMCall, RunConfig, RunWriter
from evolve.store.db import add_missing_columns, open_engine, session_factory, sqlite_url
from evolve.usage import CallUsage


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
        config=RunConfig(),
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


def test_a_calls_usage_round_trips_to_its_llm_calls_row_and_an_insights(tmp_path):
    """What a model call spent (`CallUsage`) is written into its row's columns and read back the same."""
    engine = open_engine(sqlite_url(tmp_path), create=True)
    writer = RunWriter.start_run(
        engine,
        name="usage",
        problem="p",
        problem_path="p",
        config=RunConfig(),
        seed=0,
        sandbox="process",
        mutator="llm: openai/m (w=1)",
        iterations_target=None,
        initial_code="x = 1\n",
        initial_hash="h0",
    )
    spent = CallUsage(prompt_tokens=1234, completion_tokens=56, cost=0.0125, latency=3.5, attempts=3)
    row = CallRow(
        iteration=4,
        island=1,
        parent_id=writer.initial_id,
        model="openai/m",
        mutation=Mutation.DIFF,
        prompt="[user]\nimprove it",
        answer="x = 2\n",
        usage=spent,
        error=None,
        outcome=CallOutcome.REJECTED,
        reject_reason="the edit changes nothing",
        answer_form=AnswerForm.FULL_PROGRAM,
        attempt=2,
        retried=True,
    )
    call_id = writer.add_call(row)
    failed = writer.add_call(replace(row, answer=None, usage=CallUsage(latency=0.2, attempts=5), error="Timeout: 60 s"))
    writer.add_insight(
        iteration=9, text="notes", program_ids=(1,), model="openai/m", prompt="p", usage=spent, error=None
    )
    writer.close()
    with session_factory(engine)() as s:
        stored = s.get(LLMCall, call_id)
        assert stored is not None
        read = CallUsage(stored.prompt_tokens, stored.completion_tokens, stored.cost, stored.latency, stored.attempts)
        assert read == spent
        assert (stored.iteration, stored.island, stored.parent_id, stored.model, stored.mutation) == (
            4, 1, writer.initial_id, "openai/m", "diff",
        )  # fmt: skip
        assert (stored.outcome, stored.reject_reason, stored.answer_form, stored.attempt, stored.retried) == (
            "rejected", "the edit changes nothing", "full_program", 2, True,
        )  # fmt: skip
        assert (stored.prompt, stored.answer, stored.error) == ("[user]\nimprove it", "x = 2\n", None)
        other = s.get(LLMCall, failed)
        assert other is not None and (other.attempts, other.latency, other.cost) == (5, 0.2, 0.0)
        assert other.answer is None and other.error == "Timeout: 60 s"
        insight = s.scalars(select(Insight)).one()
        assert (insight.prompt_tokens, insight.completion_tokens, insight.cost, insight.latency) == (
            1234,
            56,
            0.0125,
            3.5,
        )
    engine.dispose()
