"""Re-scores: stored programs measured again under a changed evaluator (`evolve rescore`).

Each is an evaluation row of kind RESCORE; the program's first (training) evaluation and its
`score` column are kept, so a run's history stays what happened. A resume reads the latest
re-score of a program as its score where one exists (evolve/store/population_reads.py), so the
run goes on from the re-scored population.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from evolve.kinds import EvaluationKind
from evolve.sandbox.base import EvalOutcome
from evolve.store.events import RescorePayload, event_values
from evolve.store.models import Evaluation, Event, Run, utcnow
from evolve.store.writer import evaluation_values


@dataclass(frozen=True)
class Rescored:
    """One program's new evaluation."""

    program_id: int
    outcome: EvalOutcome


def record_rescores(engine: Engine, run_id: int, rescored: Sequence[Rescored], evaluator: str) -> None:
    """The new evaluations, one RESCORE event, and the run's best: the best re-scored program
    (the changed evaluator decides what is best); one commit."""
    now = utcnow()
    with engine.begin() as conn:
        for r in rescored:
            row = evaluation_values(run_id, r.program_id, EvaluationKind.RESCORE, r.outcome, now)
            conn.execute(insert(Evaluation).values({**row, "score": r.outcome.score if r.outcome.ok else None}))
        scored = [r for r in rescored if r.outcome.ok and r.outcome.score is not None]
        if scored:
            best = max(scored, key=lambda r: (r.outcome.score, -r.program_id))
            conn.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(best_program_id=best.program_id, best_score=best.outcome.score, updated_at=now)
            )
        payload = RescorePayload(evaluator, tuple(r.program_id for r in rescored))
        message = f"{len(rescored)} programs re-scored with {evaluator} ({len(scored)} scored)"
        conn.execute(insert(Event).values(event_values(run_id, payload, message, now)))


def latest_rescores(conn: Connection, run_id: int) -> dict[int, float | None]:
    """Each re-scored program's latest re-score (None: it failed under the changed evaluator)."""
    latest = (
        select(func.max(Evaluation.id))
        .where(Evaluation.run_id == run_id, Evaluation.kind == EvaluationKind.RESCORE)
        .group_by(Evaluation.program_id)
    )
    rows = conn.execute(
        select(Evaluation.program_id, Evaluation.ok, Evaluation.score).where(Evaluation.id.in_(latest))
    ).all()
    return {r.program_id: (r.score if r.ok else None) for r in rows}


def rescored_scores(engine: Engine) -> dict[int, float | None]:
    """Every re-scored program's latest re-score, whatever its run (program ids are unique)."""
    latest = (
        select(func.max(Evaluation.id)).where(Evaluation.kind == EvaluationKind.RESCORE).group_by(Evaluation.program_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(Evaluation.program_id, Evaluation.ok, Evaluation.score).where(Evaluation.id.in_(latest))
        ).all()
    return {r.program_id: (r.score if r.ok else None) for r in rows}
