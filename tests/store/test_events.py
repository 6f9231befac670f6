"""evolve/store/events.py: each event kind's payload goes into an events row and comes back as
the same value, through every writer of events (the run's writer, hints, `evolve rescore`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from evolve.kinds import EventKind, RunStatus, StopKind
from evolve.sandbox.base import EvalOutcome
from evolve.stop_reason import StopReason
from evolve.store import Event, Run, RunConfig, RunWriter
from evolve.store.db import open_engine, sqlite_url
from evolve.store.events import (
    PAYLOADS,
    ClearPayload,
    EventPayload,
    HintPayload,
    MigrationPayload,
    NewBestPayload,
    NodeAvoidedPayload,
    PausePayload,
    RecoveredPayload,
    RescorePayload,
    ResetPayload,
    ResumePayload,
    StartPayload,
    StopPayload,
    read_payload,
)
from evolve.store.hints import add_hint, clear_hints, read_hints
from evolve.store.population_reads import read_snapshot
from evolve.store.rescores import Rescored, record_rescores

# One payload of each kind the writer takes, with values a JSON round trip could spoil:
# tuples (lists in JSON), nested tuples, None inside a tuple, a StrEnum, a float.
WRITTEN: list[EventPayload] = [
    PausePayload("the Docker engine does not answer"),
    RecoveredPayload(12.5),
    NodeAvoidedPayload("a1b2c3d4e5f6a7b8", 60.0, 2),
    NewBestPayload(3, 0.75),
    NewBestPayload(4, 0.8125, (0.8, None, 0.8125)),
    MigrationPayload(((0, 1, 3), (1, 0, 4))),
    ResetPayload((1,), ((1, 3),), 17),
]


@pytest.fixture
def writer(tmp_path: Path):
    folder = tmp_path / "runs" / "events"
    folder.mkdir(parents=True)
    engine = open_engine(sqlite_url(folder), create=True)
    config = RunConfig({"population": {"islands": 2}})
    run = RunWriter.start_run(
        engine, name="events", problem="p", problem_path="p", config=config, seed=0, sandbox="process",
        mutator="offline", iterations_target=None, initial_code="x = 1\n", initial_hash="h0",
    )  # fmt: skip
    yield run
    run.close()
    engine.dispose()


def rows(writer: RunWriter) -> list[tuple[str, EventPayload]]:
    with writer.engine.connect() as conn:
        found = conn.execute(select(Event.kind, Event.data).where(Event.run_id == writer.run_id).order_by(Event.id))
        return [(row.kind, read_payload(row.kind, row.data)) for row in found]


def test_every_event_kind_has_one_payload():
    assert set(PAYLOADS) == set(EventKind)
    assert all(cls.event == kind for kind, cls in PAYLOADS.items())


def test_each_payload_the_run_writes_comes_back_as_it_went_in(writer):
    writer.resume(RunConfig({"population": {"islands": 2}}), iterations_target=40)
    for payload in WRITTEN:
        writer.add_event(payload, f"a {payload.event} event")
    writer.finish(StopReason(StopKind.PATIENCE, "no better program in the last 4 evaluations (patience 4)"))
    expected = [StartPayload("offline", "process"), ResumePayload(40), *WRITTEN, StopPayload(StopKind.PATIENCE)]
    assert rows(writer) == [(p.event, p) for p in expected]
    stop = rows(writer)[-1][1]
    assert isinstance(stop, StopPayload) and type(stop.kind) is StopKind  # the enum, not its plain value


def test_the_run_row_keeps_the_words_and_the_status_of_the_kind(writer):
    writer.finish(StopReason(StopKind.DISK_FULL, "no space left: the database could not be written"))
    with writer.engine.connect() as conn:
        run = conn.execute(select(Run.status, Run.stop_reason).where(Run.id == writer.run_id)).one()
    assert (run.status, run.stop_reason) == (RunStatus.INTERRUPTED, "no space left: the database could not be written")


def test_hints_and_rescores_write_their_payloads_too(writer):
    hint = add_hint(writer.engine, writer.run_id, "try a hexagonal lattice", island=1, for_iterations=5)
    assert clear_hints(writer.engine, writer.run_id) == [hint.id]
    outcome = EvalOutcome(ok=True, score=2.5, sandbox="process")
    record_rescores(writer.engine, writer.run_id, [Rescored(writer.initial_id or 0, outcome)], "evaluate.py v2")
    assert [p for _, p in rows(writer)][1:] == [
        HintPayload("try a hexagonal lattice", 0, 1, 5),
        ClearPayload((hint.id,), 0),
        RescorePayload("evaluate.py v2", (writer.initial_id,)),
    ]
    with writer.engine.connect() as conn:
        (read,) = read_hints(conn, writer.run_id)
    assert (read.text, read.island, read.cleared_at) == ("try a hexagonal lattice", 1, 0)


def test_a_resume_reads_resets_and_migrations_back_as_payloads(writer):
    for payload in WRITTEN:
        writer.add_event(payload, "")
    snapshot = read_snapshot(writer.engine, writer.run_id)
    assert [e.payload for e in snapshot.events] == [
        MigrationPayload(((0, 1, 3), (1, 0, 4))),
        ResetPayload((1,), ((1, 3),), 17),
    ]


def test_rows_from_older_versions_read_with_defaults():
    """A STOP row from before stops had kinds held {}; keys a payload does not know are left out."""
    assert read_payload(EventKind.STOP, {}) == StopPayload(None)
    assert read_payload(EventKind.START, None) == StartPayload()
    assert read_payload("new_best", {"program_id": 7, "score": 1.5, "from": "elsewhere"}) == NewBestPayload(7, 1.5)
    with pytest.raises(ValueError, match="'heldout' is not a valid EventKind"):
        read_payload("heldout", {"score": 1.0})  # written by no version of the engine
