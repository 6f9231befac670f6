"""`export_rows`: every candidate of a run with the prompt and answer that made it (streamed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from evolve.inspect.rows import iso
from evolve.kinds import ProgramStatus
from evolve.store.models import LLMCall, Program, Run


def export_rows(engine: Engine, run_id: int, include_code: bool = True) -> Iterator[dict[str, Any]]:
    """One JSON-ready dict per candidate (a JSONL line): its diff, metrics, prompt and answer."""
    parent = aliased(Program)
    cols = [
        Program.id,
        Program.parent_id,
        Program.inspiration_ids,
        Program.island,
        Program.generation,
        Program.iteration,
        Program.mutation,
        Program.status,
        Program.score,
        Program.heldout_score,
        Program.metrics,
        Program.feedback,
        Program.error,
        Program.cell,
        Program.diff,
        Program.created_at,
        parent.score.label("parent_score"),
        LLMCall.model,
        LLMCall.prompt,
        LLMCall.answer,
        LLMCall.prompt_tokens,
        LLMCall.completion_tokens,
        LLMCall.cost,
        LLMCall.latency,
        LLMCall.outcome,
    ]
    if include_code:
        cols.append(Program.code)
    stmt = (
        select(*cols)
        .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
        .outerjoin(parent, parent.id == Program.parent_id)
        .where(Program.run_id == run_id)
        .order_by(Program.id)
    )
    with engine.connect() as conn:
        name = conn.execute(select(Run.name).where(Run.id == run_id)).scalar_one()
        result = conn.execution_options(stream_results=True, yield_per=500).execute(stmt)
        for r in result:
            row = {
                "run": name,
                "id": r.id,
                "parent_id": r.parent_id,
                "inspiration_ids": r.inspiration_ids or [],
                "island": r.island,
                "generation": r.generation,
                "iteration": r.iteration,
                "mutation": r.mutation,
                "status": r.status,
                "score": r.score,
                "heldout_score": r.heldout_score,
                "metrics": r.metrics or {},
                "feedback": r.feedback or "",
                "error": r.error,
                "cell": r.cell,
                "diff": r.diff,
                "created_at": iso(r.created_at),
                "parent_score": r.parent_score,
                "improved": (
                    r.status == ProgramStatus.OK
                    and r.score is not None
                    and r.parent_score is not None
                    and r.score > r.parent_score
                ),
                "model": r.model,
                "prompt": r.prompt,
                "answer": r.answer,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "cost": r.cost,
                "latency": r.latency,
                "outcome": r.outcome,
            }
            if include_code:
                row["code"] = r.code
            yield row
