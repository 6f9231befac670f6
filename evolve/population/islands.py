"""Islands, each a MAP-Elites archive: parent selection, inspirations and ring migration.

Pure, in memory, O(log n) or O(k) per step (nothing on the hot path grows with the population),
and seeded: all randomness comes from the `random.Random` passed in.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

from evolve.population import pareto


def outranks(m: Member, other: Member) -> bool:
    """A higher score wins; of equal scores the older program (smaller id), whatever order they
    arrived in, so a resumed run, which adds its programs in another order, keeps the same elites."""
    return m.score > other.score or (m.score == other.score and m.id < other.id)


@dataclass(frozen=True)
class Member:
    id: int
    score: float
    cell: tuple[int, ...]
    generation: int
    objectives: tuple[float, ...] = ()  # oriented (bigger is better); () without [objectives]


@dataclass
class Island:
    index: int
    cells: dict[tuple[int, ...], Member] = field(default_factory=dict)
    cell_keys: list[tuple[int, ...]] = field(default_factory=list)  # for O(1) uniform choice
    ranked: list[tuple[float, int]] = field(default_factory=list)  # (-score, id), best first
    members: list[int] = field(default_factory=list)
    by_id: dict[int, Member] = field(default_factory=dict)
    front: list[Member] = field(default_factory=list)  # non-dominated, with [objectives] only
    front_size: int = 16

    def add(self, m: Member) -> bool:
        """Add a program; returns True when it became the elite of its cell."""
        if m.id in self.by_id:
            return False
        self.by_id[m.id] = m
        self.front = pareto.admit(self.front, m, self.front_size)
        self.members.append(m.id)
        bisect.insort(self.ranked, (-m.score, m.id))
        incumbent = self.cells.get(m.cell)
        if incumbent is None:
            self.cell_keys.append(m.cell)
        if incumbent is None or outranks(m, incumbent):
            self.cells[m.cell] = m
            return True
        return False

    def best(self) -> Member | None:
        return self.by_id[self.ranked[0][1]] if self.ranked else None


@dataclass(frozen=True)
class SelectionPolicy:
    exploration: float = 0.2
    exploitation: float = 0.6
    elite_pool: int = 5
    inspirations: int = 3
    front_size: int = 16  # each island's non-dominated front, at most (with [objectives])
    objectives: tuple[pareto.Objective, ...] = ()  # [objectives]: parents come from the front


class Population:
    def __init__(self, n_islands: int, policy: SelectionPolicy):
        self.islands = [Island(i, front_size=policy.front_size) for i in range(n_islands)]
        self.policy = policy
        self.best: Member | None = None

    def __len__(self) -> int:
        return len({mid for island in self.islands for mid in island.members})

    def member(self, id: int, score: float, cell: tuple[int, ...], generation: int, metrics: dict) -> Member:
        """A program as the islands hold it: with its objective vector when there are objectives."""
        return Member(id, score, cell, generation, pareto.oriented_vector(self.policy.objectives, metrics))

    def add(self, island: int, member: Member) -> bool:
        """Add to one island; returns True when the member is a new best of the whole run."""
        self.islands[island].add(member)
        if self.best is None or outranks(member, self.best):
            self.best = member
            return True
        return False

    def seed_all(self, member: Member, only: tuple[int, ...] | None = None) -> None:
        """The initial program starts every island (every one of `only`: a shard's own)."""
        for i in range(len(self.islands)) if only is None else only:
            self.add(i, member)

    def select_parent(self, island: int, rng: random.Random) -> Member:
        isl = self.islands[island]
        if not isl.members:
            raise LookupError(f"island {island} is empty")
        p = self.policy
        r = rng.random()
        if r < p.exploitation and isl.front:
            # Several objectives: exploit the trade-off, not one score (a crowded tournament).
            return pareto.pick(isl.front, rng)
        if r < p.exploitation:
            # Rank-weighted choice among the island's best few: mostly the best, not only.
            pool = isl.ranked[: p.elite_pool]
            weights = [1.0 / (rank + 1) for rank in range(len(pool))]
            _, mid = rng.choices(pool, weights=weights, k=1)[0]
            return isl.by_id[mid]
        if r < p.exploitation + p.exploration:
            # Any cell's elite: explores the feature space, not just the score.
            return isl.cells[rng.choice(isl.cell_keys)]
        return isl.by_id[rng.choice(isl.members)]

    def inspirations(self, island: int, parent: Member, rng: random.Random) -> list[Member]:
        """The island's best, the run's best, then elites of other cells (diverse approaches)."""
        k = self.policy.inspirations
        if k == 0:
            return []
        isl = self.islands[island]
        chosen: list[Member] = []
        seen = {parent.id}

        def take(m: Member | None) -> None:
            if m is not None and m.id not in seen and len(chosen) < k:
                chosen.append(m)
                seen.add(m.id)

        take(isl.best())
        take(self.best)
        keys = isl.cell_keys
        for _ in range(min(len(keys), 3 * k)):
            if len(chosen) >= k:
                break
            take(isl.cells[rng.choice(keys)])
        return chosen

    def second_parent(self, island: int, parent: Member, rng: random.Random) -> Member | None:
        """A crossover's other parent: the best of another island (a line evolved apart), else the
        elite of another cell of this island (another region of the feature space); None when
        every candidate is the parent itself."""
        others = [isl.best() for isl in self.islands if isl.index != island]
        others = [m for m in others if m is not None and m.id != parent.id]
        if others:
            return rng.choice(others)
        isl = self.islands[island]
        cells = [m for m in isl.cells.values() if m.id != parent.id]
        return rng.choice(cells) if cells else None

    def wipe(self, island: int, founder: Member) -> None:
        """Empty an island and restart it from `founder` (a reset); the run's best is kept."""
        self.islands[island] = Island(island, front_size=self.policy.front_size)
        self.islands[island].add(founder)

    def leaving(self, islands: tuple[int, ...], count: int) -> list[tuple[int, int, Member]]:
        """Ring migration's emigrants of `islands` (a shard's own): each one's best `count`, bound
        for the next island. (from, to, member)."""
        n = len(self.islands)
        if n < 2 or count == 0:
            return []
        return [
            (i, (i + 1) % n, self.islands[i].by_id[mid]) for i in islands for _, mid in self.islands[i].ranked[:count]
        ]

    def migrate(self, count: int) -> list[tuple[int, int, int]]:
        """Ring migration: each island sends its best `count` to the next. Returns (from, to, id)."""
        n = len(self.islands)
        if n < 2 or count == 0:
            return []
        moves = []
        for i, isl in enumerate(self.islands):
            target = (i + 1) % n
            for _, mid in isl.ranked[:count]:
                if mid not in self.islands[target].by_id:
                    moves.append((i, target, mid))
        for src, dst, mid in moves:
            self.islands[dst].add(self.islands[src].by_id[mid])
        return moves
