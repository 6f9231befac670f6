"""What the population actor reads of its run, beside what it writes (`RunWriter`, writer.py):
programs as prompts show them, the rows a resume rebuilds the population and the search from,
and the few rows the start and the end of a run need. Plain frozen values, no ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from evolve.kinds import EvaluationKind, EventKind
from evolve.mutate.views import ProgramView
from evolve.store.events import MigrationPayload, ResetPayload, read_payload
from evolve.store.models import Embedding, Evaluation, Event, LLMCall, Program
from evolve.store.pulls import StoredPull, read_pulls
from evolve.store.rescores import latest_rescores

CHUNK = 500  # ids per IN (...) query: far below every database's limit on bound parameters
ERROR_KEPT = 2000  # characters of a failed program's error a repair prompt may quote


@dataclass(frozen=True)
class StoredProgram:
    """One program row as a resume needs it."""

    id: int
    score: float | None
    cell: tuple[int, ...]
    generation: int
    island: int
    iteration: int
    code_hash: str
    status: str
    parent_id: int | None
    mutation: str
    failure_kind: str | None
    error: str
    feedback: str
    metrics: dict  # the evaluator's, for a front's objectives


@dataclass(frozen=True)
class StoredCall:
    """One model call row as a resume counts it."""

    outcome: str
    cost: float
    iteration: int
    retried: bool
    island: int


@dataclass(frozen=True)
class StoredEvent:
    """A reset or a migration event, which a resume replays in order."""

    id: int
    payload: ResetPayload | MigrationPayload


@dataclass(frozen=True)
class RunSnapshot:
    """Everything a resume rebuilds from, read at once."""

    programs: tuple[StoredProgram, ...]  # in id order
    calls: tuple[StoredCall, ...]
    events: tuple[StoredEvent, ...]  # resets and migrations, in id order
    evaluations: dict[int, int]  # program id -> the id of its latest train evaluation
    pulls: tuple[StoredPull, ...]


@dataclass(frozen=True)
class InitialProgram:
    id: int
    code: str
    status: str


def read_snapshot(engine: Engine, run_id: int) -> RunSnapshot:
    with engine.connect() as conn:
        programs = conn.execute(
            select(
                Program.id,
                Program.score,
                Program.cell,
                Program.generation,
                Program.island,
                Program.iteration,
                Program.code_hash,
                Program.status,
                Program.parent_id,
                Program.mutation,
                Program.failure_kind,
                func.substr(Program.error, 1, ERROR_KEPT).label("error"),
                Program.feedback,
                Program.metrics,
            )
            .where(Program.run_id == run_id)
            .order_by(Program.id)
        ).all()
        calls = conn.execute(
            select(LLMCall.outcome, LLMCall.cost, LLMCall.iteration, LLMCall.retried, LLMCall.island).where(
                LLMCall.run_id == run_id
            )
        ).all()
        events = conn.execute(
            select(Event.id, Event.kind, Event.data)
            .where(Event.run_id == run_id, Event.kind.in_((EventKind.RESET, EventKind.MIGRATION)))
            .order_by(Event.id)
        ).all()
        latest = conn.execute(
            select(Evaluation.program_id, func.max(Evaluation.id))
            .where(Evaluation.run_id == run_id, Evaluation.kind == EvaluationKind.TRAIN)
            .group_by(Evaluation.program_id)
        ).all()
        pulls = read_pulls(conn, run_id)
        rescored = latest_rescores(conn, run_id)  # `evolve rescore`: the changed evaluator's score wins
    return RunSnapshot(
        programs=tuple(
            StoredProgram(
                id=p.id,
                score=rescored.get(p.id, p.score),
                cell=tuple(p.cell or ()),
                generation=p.generation,
                island=p.island,
                iteration=p.iteration,
                code_hash=p.code_hash,
                status=p.status,
                parent_id=p.parent_id,
                mutation=p.mutation,
                failure_kind=p.failure_kind,
                error=p.error or "",
                feedback=p.feedback or "",
                metrics=p.metrics or {},
            )
            for p in programs
        ),
        calls=tuple(StoredCall(c.outcome, c.cost or 0.0, c.iteration, bool(c.retried), c.island) for c in calls),
        events=tuple(
            StoredEvent(e.id, cast(ResetPayload | MigrationPayload, read_payload(e.kind, e.data))) for e in events
        ),
        evaluations={r[0]: r[1] for r in latest},
        pulls=tuple(pulls),
    )


def read_views(engine: Engine, ids: list[int]) -> list[ProgramView]:
    """Programs as prompts show them. Core on a pooled connection: an ORM session per call cost
    more than the query on the hot path."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Program.id,
                Program.code,
                Program.score,
                Program.metrics,
                Program.feedback,
                Program.idea,
                Program.cell,
            ).where(Program.id.in_(ids))
        ).all()
    return [
        ProgramView(
            r.id, r.code, r.score, r.metrics or {}, r.feedback or "", idea=r.idea or "", cell=tuple(r.cell or ())
        )
        for r in rows
    ]


def read_initial(engine: Engine, run_id: int) -> InitialProgram | None:
    """The run's initial program (iteration 0)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(Program.id, Program.code, Program.status)
            .where(Program.run_id == run_id, Program.iteration == 0)
            .order_by(Program.id)
            .limit(1)
        ).first()
    return InitialProgram(row.id, row.code, row.status) if row is not None else None


def read_codes(engine: Engine, ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            out.update(
                (r.id, r.code) for r in conn.execute(select(Program.id, Program.code).where(Program.id.in_(chunk)))
            )
    return out


def read_cells(engine: Engine, ids: list[int]) -> dict[int, tuple[int, ...]]:
    """Programs' MAP-Elites cells as stored (empty: not evaluated)."""
    with engine.connect() as conn:
        rows = conn.execute(select(Program.id, Program.cell).where(Program.id.in_(ids))).all()
    return {r.id: tuple(r.cell or ()) for r in rows}


def read_embeddings(engine: Engine, run_id: int, model: str) -> dict[int, tuple[float, ...]]:
    """The run's stored embeddings by `model`, by program id."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Embedding.program_id, Embedding.vector).where(Embedding.run_id == run_id, Embedding.model == model)
        ).all()
    return {r.program_id: tuple(r.vector) for r in rows if r.vector}
