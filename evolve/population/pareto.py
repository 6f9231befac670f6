"""Several objectives at once: dominance, an island's non-dominated front, and NSGA-II crowding.

Pure and in memory. Objective vectors are *oriented*: every entry is "bigger is better" (a
minimized metric is negated once, in `oriented_vector`), so dominance needs no directions.
The front is bounded: past its size, the member in the most crowded place (smallest crowding
distance, NSGA-II) leaves, so the front keeps its spread rather than a cluster. All randomness
comes from the `random.Random` passed in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar


class Direction(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


@dataclass(frozen=True)
class Objective:
    name: str  # a key of the evaluator's metrics
    direction: Direction


class HasObjectives(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def objectives(self) -> tuple[float, ...]: ...


M = TypeVar("M", bound=HasObjectives)


def oriented_vector(objectives: Sequence[Objective], metrics: Mapping[str, object]) -> tuple[float, ...]:
    """The metrics as a bigger-is-better vector; () when there are no objectives or one of them
    is missing or not a finite number (such a program stays out of the front)."""
    vector = []
    for objective in objectives:
        value = metrics.get(objective.name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return ()
        vector.append(float(value) if objective.direction == Direction.MAXIMIZE else -float(value))
    return tuple(vector)


def metric_values(objectives: Sequence[Objective], vector: Sequence[float]) -> tuple[float, ...]:
    """An oriented vector back in the metrics' own signs (for display)."""
    return tuple(v if o.direction == Direction.MAXIMIZE else -v for o, v in zip(objectives, vector, strict=True))


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a is at least as good as b in every objective and better in one (oriented vectors)."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def non_dominated(members: Sequence[M]) -> list[M]:
    """The members no other member dominates; of equal vectors, the earliest (lowest id) only."""
    front: list[M] = []
    for m in sorted(members, key=lambda m: m.id):
        if any(dominates(o.objectives, m.objectives) or o.objectives == m.objectives for o in front):
            continue
        front = [o for o in front if not dominates(m.objectives, o.objectives)]
        front.append(m)
    return front


def crowding_distances(vectors: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II crowding distance of each vector within its front: per objective, the normalized
    gap between its two neighbours; the extremes of every objective get infinity (always kept)."""
    n = len(vectors)
    distance = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for k in range(len(vectors[0])):
        order = sorted(range(n), key=lambda i: vectors[i][k])
        low, high = vectors[order[0]][k], vectors[order[-1]][k]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for pos in range(1, n - 1):
            gap = vectors[order[pos + 1]][k] - vectors[order[pos - 1]][k]
            distance[order[pos]] += gap / (high - low)
    return distance


def admit(front: list[M], member: M, size: int) -> list[M]:
    """The front after `member` arrives: unchanged when a member dominates or equals it; else
    without those it dominates, with it, trimmed to `size` by crowding."""
    if not member.objectives:
        return front
    if any(dominates(o.objectives, member.objectives) or o.objectives == member.objectives for o in front):
        return front
    kept = [o for o in front if not dominates(member.objectives, o.objectives)]
    kept.append(member)
    return trim(kept, size)


def trim(front: list[M], size: int) -> list[M]:
    """Drop the most crowded member until `size` remain (ties: the newest, highest id, leaves)."""
    kept = list(front)
    while len(kept) > size:
        distance = crowding_distances([m.objectives for m in kept])
        leaving = min(range(len(kept)), key=lambda i: (distance[i], -kept[i].id))
        kept.pop(leaving)
    return kept


def pick(front: Sequence[M], rng: random.Random) -> M:
    """A parent from the front: NSGA-II's crowded binary tournament (two drawn at random, the one
    in the emptier place wins), so sparse regions of the trade-off get explored."""
    if not front:
        raise LookupError("the front is empty")
    if len(front) == 1:
        return front[0]
    a, b = rng.sample(range(len(front)), 2)
    distance = crowding_distances([m.objectives for m in front])
    return front[a] if distance[a] >= distance[b] else front[b]
