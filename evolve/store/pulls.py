"""A run's finished iterations as the search's bandits see them: which model and kind, what the
iteration's calls cost, and the gain of its child over its baseline.

The population actor replays them when a run resumes, and `evolve show` and the report turn them
into each arm's pulls, mean reward and cost: both read the same rows the same way. The baseline is
the parent's score; for a crossover the better of its two parents; for a fix (its parent failed)
the failed parent's own parent. An iteration without a child, with a failed child, or with no gain
has gain 0; one whose child is not evaluated (pending, interrupted) is not finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from evolve.kinds import CallOutcome, ProgramStatus
from evolve.store.db import has_column
from evolve.store.models import LLMCall, Program


@dataclass(frozen=True)
class StoredPull:
    iteration: int
    model: str
    kind: str  # the mutation kind
    cost: float  # USD of all the iteration's calls (re-asks and a novelty judge included)
    gain: float
    call_failed: bool
    finished: bool  # False: its child awaits (or lost) its evaluation


def read_pulls(conn: Connection, run_id: int) -> list[StoredPull]:
    retried = LLMCall.retried if has_column(conn, "llm_calls", "retried") else None
    columns = [LLMCall.id, LLMCall.iteration, LLMCall.model, LLMCall.mutation, LLMCall.outcome, LLMCall.cost]
    calls = conn.execute(
        select(*columns, *([retried] if retried is not None else []))
        .where(LLMCall.run_id == run_id)
        .order_by(LLMCall.id)
    ).all()
    second = Program.second_parent_id if has_column(conn, "programs", "second_parent_id") else None
    programs = conn.execute(
        select(
            Program.id,
            Program.parent_id,
            Program.score,
            Program.status,
            Program.llm_call_id,
            *([second] if second is not None else []),
        ).where(Program.run_id == run_id)
    ).all()
    score: dict[int, float] = {p.id: p.score for p in programs if p.status == ProgramStatus.OK and p.score is not None}
    parent = {p.id: p.parent_id for p in programs}
    child_of_call = {p.llm_call_id: p for p in programs if p.llm_call_id is not None}

    cost: dict[int, float] = {}
    final: dict[int, Any] = {}
    for c in calls:
        cost[c.iteration] = cost.get(c.iteration, 0.0) + float(c.cost or 0.0)
        if not (retried is not None and c.retried):
            final[c.iteration] = c
    out = []
    for iteration, row in sorted(final.items(), key=lambda item: item[1].id):
        gain, finished = 0.0, True
        child = child_of_call.get(row.id) if row.outcome == CallOutcome.CHILD else None
        if child is not None:
            if child.status not in (ProgramStatus.OK, ProgramStatus.FAILED):
                finished = False
            elif child.status == ProgramStatus.OK and child.score is not None:
                parents = [child.parent_id, getattr(child, "second_parent_id", None)]
                known = [score[p] for p in parents if p in score]
                if not known and child.parent_id is not None:  # a fix: the failed parent's own parent
                    grand = parent.get(child.parent_id)
                    known = [score[grand]] if grand in score else []
                gain = child.score - max(known) if known else 0.0
        out.append(
            StoredPull(
                iteration=iteration,
                model=row.model,
                kind=row.mutation,
                cost=cost[iteration],
                gain=gain,
                call_failed=row.outcome == CallOutcome.ERROR,
                finished=finished,
            )
        )
    return out
