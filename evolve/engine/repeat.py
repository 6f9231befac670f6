"""Re-evaluating the top programs of a noisy run before it declares its best (`[evaluation]
repeat_best = N`).

On a problem scored by timings, a run's best is partly the luckiest measurement: of hundreds of
candidates, the top score is biased upwards (the winner's curse). At the end of such a run the
top few programs, and the initial program beside them, are evaluated N more times each, one
after another (evaluations side by side would slow each other down), and the best is the one
with the highest median of those repeats: fresh measurements that selection has not seen. The
first score is left out of the median for that reason; the initial program is measured the same
way so that the run's summary compares like with like.

Each repeat is an evaluation row of its own (kind `train`). The repeats of a program are recorded
with the median one last, so the program's score, metrics and feedback are its median repeat's;
a failed repeat counts below every score (a program that fails when measured again is not the
best). The population's best is then set to the winner, with its median as the run's best score.
The population actors pick the contenders and record the repeats (the store's only writers:
`PopulationActor.top_programs` and `record_repeats`, evolve/engine/population_actor.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from evolve.errors import InfrastructureError
from evolve.population import Member, Population
from evolve.sandbox.base import EvalOutcome
from evolve.store import RunWriter
from evolve.store.events import NewBestPayload

log = logging.getLogger(__name__)

TOP_PROGRAMS = 3  # how many of the best programs are measured again


@dataclass(frozen=True)
class Contender:
    """One of the run's top programs, as the population holds it."""

    program_id: int
    code: str
    score: float
    initial: bool = False  # the run's initial program (compared with the best even when not among them)


@dataclass(frozen=True)
class Repeats:
    """The repeated evaluations of one program, in the order they ran."""

    program_id: int
    outcomes: tuple[EvalOutcome, ...]

    def ordered(self) -> list[EvalOutcome]:
        """Lowest first (failures before any score), the median last: the order to record them in,
        so the program keeps its median evaluation."""
        ranked = sorted(self.outcomes, key=_rank)
        middle = ranked.pop(_median_index(len(ranked)))
        return [*ranked, middle]

    @property
    def median(self) -> float | None:
        """The (lower) median score, None when the median repeat failed."""
        middle = self.ordered()[-1]
        return middle.score if middle.ok else None


def _rank(outcome: EvalOutcome) -> float:
    return outcome.score if outcome.ok and outcome.score is not None else float("-inf")


def _median_index(count: int) -> int:
    return (count - 1) // 2  # the lower median: a score some evaluation actually had


def winner(repeats: list[Repeats]) -> Repeats | None:
    """The program with the highest median repeat; ties go to the earlier (better-ranked) one."""
    scored = [r for r in repeats if r.median is not None]
    return max(scored, key=lambda r: r.median if r.median is not None else float("-inf"), default=None)


def repeat_best(driver, times: int, top: int = TOP_PROGRAMS) -> Repeats | None:
    """Evaluate the run's `top` best programs `times` more times each, record every repeat and
    make the highest median the run's best. Returns the winner's repeats (None: nothing changed,
    as when the machinery broke: the run's best then stays as it was, and the log says why)."""
    import ray

    from evolve.engine.tickets import EvalTicket

    shards = driver.db.shards
    contenders = merge_contenders(ray.get([s.top_programs.remote(top) for s in shards]), top)
    repeats = []
    try:
        for c in contenders:
            ticket = EvalTicket(c.program_id, c.code, -1, 0)
            outcomes = tuple(driver.evaluate_now(ticket, driver.template) for _ in range(times))
            repeats.append(Repeats(c.program_id, outcomes))
    except InfrastructureError as exc:
        log.warning("the best is not re-evaluated (repeat_best): %s", exc)
        return None
    chosen: Repeats | None = ray.get(shards[0].record_repeats.remote(repeats))  # the home shard
    if chosen is not None and chosen.median is not None:
        driver.db.pin_best(chosen.program_id, chosen.median)  # over every shard's single-evaluation best
    return chosen


def merge_contenders(per_shard: list[list[Contender]], top: int) -> list[Contender]:
    """The run's `top` best over every shard's own, then the initial program when not among them."""
    unique = {c.program_id: c for contenders in per_shard for c in contenders}
    best = sorted((c for c in unique.values()), key=lambda c: (-c.score, c.program_id))[:top]
    initial = [c for c in unique.values() if c.initial and c not in best]
    return best + initial[:1]


# -- in the population actor (the store's only writer): `top_programs` and `record_repeats` ------


def top_members(population: Population, top: int, initial_id: int | None) -> list[Member]:
    """The `top` best distinct programs over all islands, best first, then the initial program
    when it is not among them."""
    members = {m.id: m for island in population.islands for m in island.by_id.values()}
    best = sorted(members.values(), key=lambda m: (-m.score, m.id))[:top]
    if initial_id in members and all(m.id != initial_id for m in best):
        best.append(members[initial_id])
    return best


def record_repeats(
    writer: RunWriter, population: Population, stored_cells: dict[int, tuple[int, ...]], repeats: list[Repeats]
) -> Repeats | None:
    """Record every repeat (one transaction) and make the highest median the best, in the store
    and in `population`. `stored_cells`: the cells of programs of another shard's islands."""
    members = {m.id: m for island in population.islands for m in island.by_id.values()}
    chosen = winner(repeats)
    with writer.transaction():
        for r in repeats:
            member = members.get(r.program_id)
            cell = member.cell if member is not None else stored_cells.get(r.program_id, ())
            for outcome in r.ordered():
                writer.record_evaluation(r.program_id, outcome, cell)
        if chosen is None or chosen.median is None:
            return chosen
        median = chosen.median
        if chosen.program_id in members:
            population.best = replace(members[chosen.program_id], score=median)
        writer.set_best(chosen.program_id, median)
        scores = ", ".join(f"{o.score:.6g}" if o.ok and o.score is not None else "failed" for o in chosen.outcomes)
        writer.add_event(
            NewBestPayload(chosen.program_id, median, tuple(o.score if o.ok else None for o in chosen.outcomes)),
            f"best after {len(chosen.outcomes)} repeats of {len(repeats)} programs: program "
            f"{chosen.program_id}, median {median:.6g} ({scores})",
        )
    return chosen
