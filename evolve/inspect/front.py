"""A run's Pareto front, read from the store: its evaluated programs that no other beats on every
objective of the problem's [objectives] (`evolve top RUN --front`, the report's front plot).

The front is the whole run's (over every island), computed from the stored metrics, so it is the
same whichever shard or island found a program; an island's own front (what parents are drawn
from) is a subset of what it held.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from evolve.inspect.queries import run_config
from evolve.kinds import ProgramStatus
from evolve.population.pareto import Direction, Objective, metric_values, non_dominated, oriented_vector
from evolve.store.models import Program


@dataclass(frozen=True)
class FrontPoint:
    """One program, with its objectives' values in the metrics' own signs."""

    id: int
    score: float | None
    island: int
    iteration: int
    values: tuple[float, ...]
    on_front: bool


@dataclass(frozen=True)
class _Candidate:
    id: int
    objectives: tuple[float, ...]  # oriented


@dataclass(frozen=True)
class RunFront:
    objectives: tuple[Objective, ...]  # () when the run's problem named none
    points: tuple[FrontPoint, ...]  # every evaluated program with all objectives, front first

    @property
    def front(self) -> tuple[FrontPoint, ...]:
        return tuple(p for p in self.points if p.on_front)


def stored_objectives(problem_config: dict) -> tuple[Objective, ...]:
    """The [objectives] a run stored with its problem config (none in older runs)."""
    named = problem_config.get("objectives") or {}
    return tuple(Objective(name, Direction(direction)) for name, direction in named.items())


def run_front(engine: Engine, run_id: int) -> RunFront:
    objectives = stored_objectives(run_config(engine, run_id).problem)
    if not objectives:
        return RunFront((), ())
    with engine.connect() as conn:
        rows = conn.execute(
            select(Program.id, Program.score, Program.island, Program.iteration, Program.metrics)
            .where(Program.run_id == run_id, Program.status == ProgramStatus.OK)
            .order_by(Program.id)
        ).all()
    vectors = {r.id: oriented_vector(objectives, r.metrics or {}) for r in rows}
    front = {c.id for c in non_dominated([_Candidate(i, v) for i, v in vectors.items() if v])}
    points = [
        FrontPoint(r.id, r.score, r.island, r.iteration, metric_values(objectives, vectors[r.id]), r.id in front)
        for r in rows
        if vectors[r.id]
    ]
    # The front first, along its first objective (a readable walk along the trade-off).
    points.sort(key=lambda p: (not p.on_front, p.values[0] if p.on_front else 0.0, p.id))
    return RunFront(objectives, tuple(points))


def front_json(engine: Engine, run_id: int) -> dict | None:
    """What the report's front plot draws; None for a run without [objectives]."""
    found = run_front(engine, run_id)
    if not found.objectives:
        return None
    return {
        "objectives": [{"name": o.name, "direction": str(o.direction)} for o in found.objectives],
        "points": [{"id": p.id, "values": list(p.values), "on_front": p.on_front} for p in found.points],
    }
