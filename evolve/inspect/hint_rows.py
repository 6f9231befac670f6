"""The hints of a run as `evolve show`, the report and the live page list them: each with the
iteration it arrived at and the children made under it, so a person sees whether a hint paid."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from evolve.inspect.rows import HintRow
from evolve.kinds import ProgramStatus
from evolve.store.db import has_column
from evolve.store.hints import read_hints
from evolve.store.models import Program


def hinted(conn: Connection, ids: list[int]) -> dict[int, tuple[int, ...]]:
    """The programs among `ids` made under hints, and those hints (none in older databases)."""
    if not ids or not has_column(conn, "programs", "hint_ids"):
        return {}
    rows = conn.execute(select(Program.id, Program.hint_ids).where(Program.id.in_(ids))).all()
    return {r.id: tuple(r.hint_ids) for r in rows if r.hint_ids}


def hint_rows(conn: Connection, run_id: int) -> list[HintRow]:
    """Every hint the run was given, oldest first, with what its children scored."""
    hints = read_hints(conn, run_id)
    if not hints:
        return []
    children: dict[int, list[tuple[float | None, float | None]]] = {h.id: [] for h in hints}
    if has_column(conn, "programs", "hint_ids"):
        parent = aliased(Program)
        rows = conn.execute(
            select(Program.hint_ids, Program.status, Program.score, parent.score.label("parent_score"))
            .outerjoin(parent, parent.id == Program.parent_id)
            .where(Program.run_id == run_id, Program.hint_ids.is_not(None))
        ).all()
        for r in rows:
            score = r.score if r.status == ProgramStatus.OK else None
            for hint_id in r.hint_ids or ():
                children.setdefault(hint_id, []).append((score, r.parent_score))
    out = []
    for h in hints:
        made = children.get(h.id, [])
        scores = [s for s, _ in made if s is not None]
        improved = sum(1 for s, p in made if s is not None and p is not None and s > p)
        out.append(
            HintRow(
                h.id,
                h.text,
                h.iteration,
                h.island,
                h.until,
                h.cleared_at,
                len(made),
                improved,
                max(scores, default=None),
            )
        )
    return out
