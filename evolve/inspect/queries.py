"""Queries over a run database: runs and programs, returning `rows` dataclasses.

Aggregates run in SQL; code, prompts and answers are read only for the one or few programs that a
command shows. Each public function opens one short read transaction (`with engine.connect()`),
so its figures come from one consistent snapshot of a run that may still be writing. Result rows
are read by column name (labels where two tables share one), never by position. Lineage and diffs
are in `evolve.inspect.lineage`, the summary in `evolve.inspect.summary`, the export in
`evolve.inspect.export`.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import case, func, inspect, literal, select
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import aliased

from evolve.errors import RunNotFound
from evolve.inspect.rows import (
    CallBrief,
    EvaluationRow,
    ProgramBrief,
    ProgramDetail,
    RunRow,
    iso,
    seconds_between,
    to_jsonable,
)
from evolve.kinds import ProgramStatus
from evolve.store.db import has_column
from evolve.store.liveness import effective_status
from evolve.store.models import Evaluation, Insight, LLMCall, Program, Run
from evolve.store.run_config import RunConfig

__all__ = [
    "QueryError",
    "best",
    "best_id",
    "browse",
    "list_runs",
    "program",
    "run_config",
    "to_jsonable",
    "top",
]


AnyRow: TypeAlias = "Row[*tuple[Any, ...]]"  # a result row of any columns


class QueryError(RunNotFound):
    """A program or run that the user named is not there (one-line message)."""


# ---------------------------------------------------------------- runs

_RUN_COLUMNS = (
    Run.id,
    Run.name,
    Run.problem,
    Run.status,
    Run.best_score,
    Run.heldout_score,
    Run.created_at,
    Run.updated_at,
    Run.finished_at,
)


def _insight_costs(conn: Connection, run_id: int | None) -> dict[int, float]:
    """What each run's insight calls cost (none in a database from before the insights table)."""
    if not inspect(conn).has_table(Insight.__tablename__):
        return {}
    where = [Insight.run_id == run_id] if run_id is not None else []
    rows = conn.execute(select(Insight.run_id, func.sum(Insight.cost)).where(*where).group_by(Insight.run_id)).all()
    return {rid: float(cost or 0.0) for rid, cost in rows}


def run_rows(conn: Connection, url: str, run_id: int | None = None) -> list[RunRow]:
    only = (lambda col: [col == run_id]) if run_id is not None else (lambda col: [])
    per_status = (
        select(
            Program.run_id.label("run_id"),
            func.count(Program.id).label("candidates"),
            func.sum(case((Program.status == ProgramStatus.OK, 1), else_=0)).label("ok"),
            func.sum(case((Program.status == ProgramStatus.FAILED, 1), else_=0)).label("failed"),
            func.max(case((Program.status == ProgramStatus.OK, Program.score), else_=None)).label("best"),
        )
        .where(*only(Program.run_id))
        .group_by(Program.run_id)
        .subquery()
    )
    costs = (
        select(LLMCall.run_id.label("run_id"), func.sum(LLMCall.cost).label("cost"))
        .where(*only(LLMCall.run_id))
        .group_by(LLMCall.run_id)
        .subquery()
    )
    # A database from before heartbeats has no such column (readers never alter a database).
    heartbeat = Run.heartbeat_at if has_column(conn, "runs", "heartbeat_at") else literal(None)
    stmt = (
        select(
            *_RUN_COLUMNS,
            heartbeat.label("heartbeat_at"),
            per_status.c.candidates,
            per_status.c.ok,
            per_status.c.failed,
            per_status.c.best,
            costs.c.cost,
        )
        .outerjoin(per_status, per_status.c.run_id == Run.id)
        .outerjoin(costs, costs.c.run_id == Run.id)
        .where(*only(Run.id))
        .order_by(Run.id)
    )
    insight_costs = _insight_costs(conn, run_id)
    rows = []
    for r in conn.execute(stmt).all():
        rows.append(
            RunRow(
                id=r.id,
                name=r.name,
                problem=r.problem,
                status=effective_status(r.status, r.heartbeat_at),
                candidates=r.candidates or 0,
                ok=int(r.ok or 0),
                failed=int(r.failed or 0),
                best_score=r.best if r.best is not None else r.best_score,
                heldout_score=r.heldout_score,
                cost=float(r.cost or 0.0) + insight_costs.get(r.id, 0.0),
                created_at=iso(r.created_at),
                updated_at=iso(r.updated_at),
                duration_s=seconds_between(r.created_at, r.finished_at or r.updated_at),
                url=url,
            )
        )
    return rows


def list_runs(engine: Engine, url: str = "") -> list[RunRow]:
    with engine.connect() as conn:
        return run_rows(conn, url)


def run_row(conn: Connection, run_id: int) -> AnyRow:
    """The run's own row (every column of `runs`), or QueryError."""
    row = conn.execute(select(Run.__table__).where(Run.id == run_id)).first()
    if row is None:
        raise QueryError(f"no run with id {run_id}")
    return row


def stored_config(conn: Connection, run_id: int) -> RunConfig:
    return RunConfig.from_json(run_row(conn, run_id).config)


def run_config(engine: Engine, run_id: int) -> RunConfig:
    with engine.connect() as conn:
        return stored_config(conn, run_id)


# ---------------------------------------------------------------- programs


def brief_columns() -> tuple:
    return (
        Program.id,
        Program.parent_id,
        Program.island,
        Program.generation,
        Program.iteration,
        Program.mutation,
        Program.status,
        Program.score,
        Program.heldout_score,
        LLMCall.model,
        Program.created_at,
    )


def to_brief(row: AnyRow) -> ProgramBrief:
    return ProgramBrief(
        id=row.id,
        parent_id=row.parent_id,
        island=row.island,
        generation=row.generation,
        iteration=row.iteration,
        mutation=row.mutation,
        status=row.status,
        score=row.score,
        heldout_score=row.heldout_score,
        model=row.model,
        created_at=iso(row.created_at),
    )


def briefs(
    conn: Connection, run_id: int, *where, order=None, limit: int | None = None, offset: int = 0
) -> list[ProgramBrief]:
    stmt = (
        select(*brief_columns())
        .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
        .where(Program.run_id == run_id, *where)
    )
    if order is not None:
        stmt = stmt.order_by(*order)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return [to_brief(r) for r in conn.execute(stmt).all()]


def best_program_id(conn: Connection, run_id: int) -> int | None:
    return conn.execute(
        select(Program.id)
        .where(Program.run_id == run_id, Program.status == ProgramStatus.OK, Program.score.is_not(None))
        .order_by(Program.score.desc(), Program.id)
        .limit(1)
    ).scalar_one_or_none()


def best_id(engine: Engine, run_id: int) -> int | None:
    """The best program: the highest-scoring evaluated program (the earliest among equals)."""
    with engine.connect() as conn:
        return best_program_id(conn, run_id)


def top(engine: Engine, run_id: int, n: int = 10) -> list[ProgramBrief]:
    with engine.connect() as conn:
        return briefs(
            conn,
            run_id,
            Program.status == ProgramStatus.OK,
            Program.score.is_not(None),
            order=(Program.score.desc(), Program.id),
            limit=n,
        )


SORTS = {
    "score": (Program.score.desc(), Program.id),
    "-score": (Program.score.asc(), Program.id),
    "iteration": (Program.iteration, Program.id),
    "-iteration": (Program.iteration.desc(), Program.id.desc()),
    "id": (Program.id,),
    "-id": (Program.id.desc(),),
}


def browse(
    engine: Engine,
    run_id: int,
    *,
    status: str | None = None,
    island: int | None = None,
    sort: str = "-id",
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[ProgramBrief]]:
    """One page of programs for the program browser, and how many match in all."""
    where = []
    if status:
        where.append(Program.status == status)
    if island is not None:
        where.append(Program.island == island)
    order = SORTS.get(sort, SORTS["-id"])
    if sort in ("score", "-score"):
        where.append(Program.score.is_not(None))
    with engine.connect() as conn:
        total = conn.execute(select(func.count(Program.id)).where(Program.run_id == run_id, *where)).scalar_one()
        return total, briefs(conn, run_id, *where, order=order, limit=limit, offset=offset)


def detail(conn: Connection, run_id: int, program_id: int) -> ProgramDetail:
    parent = aliased(Program)
    # Named columns, not whole entities: a column added since (failure_kind) may be missing in
    # an older database, which a reader does not alter.
    r = conn.execute(
        select(
            *brief_columns(),
            Program.code,
            Program.diff,
            Program.metrics,
            Program.feedback,
            Program.error,
            Program.cell,
            Program.inspiration_ids,
            Program.propose_seconds,
            Program.eval_seconds,
            parent.score.label("parent_score"),
            LLMCall.id.label("call_id"),
            LLMCall.mutation.label("call_mutation"),
            LLMCall.prompt,
            LLMCall.answer,
            LLMCall.prompt_tokens,
            LLMCall.completion_tokens,
            LLMCall.cost,
            LLMCall.latency,
            LLMCall.attempts,
            LLMCall.outcome,
            LLMCall.error.label("call_error"),
        )
        .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
        .outerjoin(parent, parent.id == Program.parent_id)
        .where(Program.run_id == run_id, Program.id == program_id)
    ).first()
    if r is None:
        raise QueryError(f"no program {program_id} in this run")
    return ProgramDetail(
        brief=to_brief(r),
        code=r.code,
        diff=r.diff,
        metrics=r.metrics or {},
        feedback=r.feedback or "",
        error=r.error,
        cell=r.cell,
        inspiration_ids=r.inspiration_ids or [],
        parent_score=r.parent_score,
        propose_seconds=r.propose_seconds,
        eval_seconds=r.eval_seconds,
        prompt=r.prompt,
        answer=r.answer,
        llm=_call_brief(r),
        evaluations=_evaluations(conn, program_id),
    )


def _evaluations(conn: Connection, program_id: int) -> list[EvaluationRow]:
    """A program's evaluations, oldest first, their logs cut to 4,000 characters."""
    evaluations = conn.execute(
        select(
            Evaluation.kind,
            Evaluation.ok,
            Evaluation.score,
            Evaluation.exit_reason,
            Evaluation.duration,
            Evaluation.sandbox,
            func.substr(Evaluation.logs, 1, 4000).label("logs"),
            Evaluation.created_at,
        )
        .where(Evaluation.program_id == program_id)
        .order_by(Evaluation.id)
    ).all()
    return [
        EvaluationRow(
            kind=e.kind,
            ok=e.ok,
            score=e.score,
            exit_reason=e.exit_reason,
            duration=e.duration,
            sandbox=e.sandbox,
            logs=e.logs,
            created_at=iso(e.created_at),
        )
        for e in evaluations
    ]


def _call_brief(r) -> CallBrief | None:
    """The model call that proposed the program, from `detail`'s row; None for the initial program."""
    if r.call_id is None:
        return None
    return CallBrief(
        id=r.call_id,
        model=r.model,
        mutation=r.call_mutation,
        prompt_tokens=r.prompt_tokens,
        completion_tokens=r.completion_tokens,
        cost=r.cost,
        latency=r.latency,
        attempts=r.attempts,
        outcome=r.outcome,
        error=r.call_error,
    )


def program(engine: Engine, run_id: int, program_id: int) -> ProgramDetail:
    with engine.connect() as conn:
        return detail(conn, run_id, program_id)


def scored_best_id(conn: Connection, run_id: int) -> int:
    pid = best_program_id(conn, run_id)
    if pid is None:
        raise QueryError("no program has been scored yet in this run")
    return pid


def best(engine: Engine, run_id: int) -> ProgramDetail:
    with engine.connect() as conn:
        return detail(conn, run_id, scored_best_id(conn, run_id))
