"""Island resets (FunSearch, implementation/programs_database.py `reset_islands`): islands that
stopped improving are wiped and each reseeded with the best program of a surviving island.

Every `reset_interval` evaluated children the engine compares each island's best with its best at
the previous check. The stagnant ones (no improvement since) are wiped, except that the island
holding the run's best always survives, and at most half of the islands go at once, the weakest
first (FunSearch wipes the weaker half on a timer; here only the weaker half of those that stalled).
Each wiped island restarts from the best of a survivor chosen at random, so the good lines
spread while the islands that had stalled get a fresh start. Pure: the bests in, a plan out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class IslandBest:
    island: int
    program_id: int | None
    score: float | None  # None: the island is empty


@dataclass(frozen=True)
class ResetPlan:
    wiped: tuple[int, ...]
    seeds: tuple[tuple[int, int], ...]  # (island, program id it restarts from)

    def __bool__(self) -> bool:
        return bool(self.wiped)


def stagnant(bests: list[IslandBest], previous: dict[int, float | None]) -> list[int]:
    """Islands whose best did not improve since the previous check (an island new to the check
    is not stagnant: it has had no window yet)."""
    out = []
    for b in bests:
        if b.island not in previous:
            continue
        before = previous[b.island]
        if b.score is None or (before is not None and b.score <= before):
            out.append(b.island)
    return out


def plan_reset(bests: list[IslandBest], previous: dict[int, float | None], rng: random.Random) -> ResetPlan:
    if len(bests) < 2:
        return ResetPlan((), ())
    scored = [b for b in bests if b.score is not None]
    if not scored:
        return ResetPlan((), ())
    leader = max(scored, key=lambda b: (b.score, -b.island))
    candidates = [i for i in stagnant(bests, previous) if i != leader.island]
    by_island = {b.island: b for b in bests}

    def weakness(i: int) -> tuple[float, int]:
        score = by_island[i].score
        return (float("-inf") if score is None else score, i)

    wiped = sorted(sorted(candidates, key=weakness)[: len(bests) // 2])
    survivors = [b for b in scored if b.island not in wiped]
    seeds = []
    for island in wiped:
        founder = rng.choice(survivors)
        assert founder.program_id is not None
        seeds.append((island, founder.program_id))
    return ResetPlan(tuple(wiped), tuple(seeds))
