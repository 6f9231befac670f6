"""A program's ancestry (`lineage`) and the diff between two programs (`diff`)."""

from __future__ import annotations

import difflib

from sqlalchemy import Integer, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased

from evolve.inspect.hint_rows import hinted
from evolve.inspect.queries import AnyRow, QueryError, brief_columns, scored_best_id, stored_config, to_brief
from evolve.inspect.rows import DiffResult, LineageStep, ProgramBrief
from evolve.store.db import has_column
from evolve.store.models import LLMCall, Program


def ancestry(conn: Connection, run_id: int, program_id: int, with_diffs: bool) -> list[LineageStep]:
    anc = (
        select(Program.id.label("id"), Program.parent_id.label("parent_id"), literal(0, Integer).label("depth"))
        .where(Program.run_id == run_id, Program.id == program_id)
        .cte("ancestry", recursive=True)
    )
    up = aliased(Program)
    anc = anc.union_all(
        select(up.id, up.parent_id, (anc.c.depth + 1).label("depth")).where(
            up.id == anc.c.parent_id, anc.c.depth < 100000
        )
    )
    cols = [*brief_columns(), *([Program.diff] if with_diffs else [])]
    rows = conn.execute(
        select(*cols)
        .join(anc, anc.c.id == Program.id)
        .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
        .order_by(anc.c.depth.desc())
    ).all()
    if not rows:
        raise QueryError(f"no program {program_id} in this run")
    steps: list[LineageStep] = []
    before: ProgramBrief | None = None
    second = second_parents(conn, [r.id for r in rows])
    hints = hinted(conn, [r.id for r in rows])
    for r in rows:
        brief = to_brief(r)
        delta = None
        if before is not None and before.score is not None and brief.score is not None:
            delta = brief.score - before.score
        steps.append(
            LineageStep(brief, delta, r.diff if with_diffs else None, second.get(brief.id), hints.get(brief.id, ()))
        )
        before = brief
    return steps


def second_parents(conn: Connection, ids: list[int]) -> dict[int, int]:
    """The crossover children among `ids` and their other parents (none in older databases)."""
    if not ids or not has_column(conn, "programs", "second_parent_id"):
        return {}
    rows = conn.execute(
        select(Program.id, Program.second_parent_id).where(Program.id.in_(ids), Program.second_parent_id.is_not(None))
    ).all()
    return {r.id: r.second_parent_id for r in rows}


def lineage(engine: Engine, run_id: int, program_id: int | None = None, with_diffs: bool = False) -> list[LineageStep]:
    """The ancestry of a program (default: the best), from the initial program down to it."""
    with engine.connect() as conn:
        if program_id is None:
            program_id = scored_best_id(conn, run_id)
        return ancestry(conn, run_id, program_id, with_diffs)


def _with_code(conn: Connection, run_id: int, program_id: int) -> AnyRow:
    r: AnyRow | None = conn.execute(
        select(*brief_columns(), Program.code, Program.diff)
        .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
        .where(Program.run_id == run_id, Program.id == program_id)
    ).first()
    if r is None:
        raise QueryError(f"no program {program_id} in this run")
    return r


def diff(engine: Engine, run_id: int, a: int | None = None, b: int | None = None) -> DiffResult:
    """The diff from program a to program b. With neither: the best against its parent; with only
    one: that program against its parent."""
    with engine.connect() as conn:
        lang = stored_config(conn, run_id).language
        if a is not None and b is None:
            a, b = None, a
        if b is None:
            b = scored_best_id(conn, run_id)
        rb = _with_code(conn, run_id, b)
        if a is None:
            a = rb.parent_id
            if a is None:
                raise QueryError(
                    f"program {b} is the initial program: it has no parent to diff against (give two program ids)"
                )
        ra = rb if a == b else _with_code(conn, run_id, a)
        second = second_parents(conn, [b]).get(b)
    if rb.parent_id == a and rb.diff:
        return DiffResult(to_brief(ra), to_brief(rb), rb.diff, True, lang, second)
    text = "".join(
        difflib.unified_diff(
            ra.code.splitlines(keepends=True),
            rb.code.splitlines(keepends=True),
            fromfile=f"program {a}",
            tofile=f"program {b}",
        )
    )
    return DiffResult(to_brief(ra), to_brief(rb), text, False, lang, second)
