"""The best program of a run, with the initial program's scores beside it (what a run reports)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from evolve.store.models import Program


@dataclass(frozen=True)
class BestProgram:
    id: int
    code: str
    score: float | None
    metrics: dict[str, float]
    feedback: str
    iteration: int
    generation: int
    heldout_score: float | None
    initial_id: int
    initial_score: float | None
    initial_heldout_score: float | None

    def metrics_json(self) -> dict:
        """What runs/<run>/best/metrics.json holds."""
        return {
            "id": self.id,
            "score": self.score,
            "heldout_score": self.heldout_score,
            "metrics": self.metrics,
            "iteration": self.iteration,
            "generation": self.generation,
        }


def read_best_program(engine: Engine, run_id: int, program_id: int) -> BestProgram:
    """Program `program_id` of run `run_id` as the best, and the run's initial program's scores."""
    with engine.connect() as conn:
        best = conn.execute(
            select(
                Program.id,
                Program.code,
                Program.score,
                Program.metrics,
                Program.feedback,
                Program.iteration,
                Program.generation,
                Program.heldout_score,
            ).where(Program.run_id == run_id, Program.id == program_id)
        ).one()
        initial = conn.execute(
            select(Program.id, Program.score, Program.heldout_score)
            .where(Program.run_id == run_id, Program.iteration == 0)
            .order_by(Program.id)
            .limit(1)
        ).one()
    return BestProgram(
        id=best.id,
        code=best.code,
        score=best.score,
        metrics=dict(best.metrics or {}),
        feedback=best.feedback or "",
        iteration=best.iteration,
        generation=best.generation,
        heldout_score=best.heldout_score,
        initial_id=initial.id,
        initial_score=initial.score,
        initial_heldout_score=initial.heldout_score,
    )
