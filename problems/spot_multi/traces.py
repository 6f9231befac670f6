"""Seeded, correlated multi-region spot-availability traces for the multi-region spot problem.

Each region has its own two-state Markov chain over 10-minute ticks (mean availability 0.2-0.8,
mean available run 5-60 ticks). On top, a shared "capacity crunch" chain (about a quarter of the
time, runs of 20-80 ticks) takes spot away at once in each region that is susceptible to that
crunch (each region independently, with a per-trace probability of 0.4-0.9 per crunch): outages
are correlated across regions, as in real clouds.

Pure stdlib (random.Random): the same seed gives the same traces on every machine.
"""

from __future__ import annotations

import math
import random

TICK_SECONDS = 600
TASK_SECONDS = 48 * 3600
OVERHEAD_SECONDS = 720  # 0.2 h, as in the original multi-region study
REGION_COUNTS = (2, 3, 5)
DEADLINE_HOURS = (52, 70)
PRICE_ON_DEMAND = 3.06
PRICE_SPOT = 0.9731

TRAIN_SEED = 424242
TRAIN_CASES = 96
HELDOUT_SEED = 8675309
HELDOUT_CASES = 120


class _Chains:
    """The generator state: one own-chain per region plus the shared crunch chain."""

    def __init__(self, rng: random.Random, k: int):
        self.own_p = []  # (p_up_to_down, p_down_to_up) per region
        self.own = []
        self.params = []
        for _ in range(k):
            a = rng.uniform(0.2, 0.8)
            up = math.exp(rng.uniform(math.log(5), math.log(60)))
            down = max(1.0, up * (1 - a) / a)
            self.own_p.append((1.0 / up, 1.0 / down))
            self.own.append(1 if rng.random() < a else 0)
            self.params.append((round(a, 2), round(up, 1)))
        crunch_run = rng.uniform(20, 80)
        self.crunch_p = (1.0 / crunch_run, 1.0 / (3 * crunch_run))  # crunch about 25% of the time
        self.susceptibility = rng.uniform(0.4, 0.9)
        self.crunch = 0
        self.hit = [False] * k

    def tick(self, rng: random.Random) -> list[int]:
        out = [o if not (self.crunch and h) else 0 for o, h in zip(self.own, self.hit)]
        for r, (p_off, p_on) in enumerate(self.own_p):
            if rng.random() < (p_off if self.own[r] else p_on):
                self.own[r] = 1 - self.own[r]
        if rng.random() < (self.crunch_p[0] if self.crunch else self.crunch_p[1]):
            self.crunch = 1 - self.crunch
            if self.crunch:
                self.hit = [rng.random() < self.susceptibility for _ in self.hit]
        return out


def make_cases(seed: int, count: int) -> list[dict]:
    """Return `count` cases. A case: {"name", "avail" (one string of '0'/'1' per region, one char
    per tick up to the deadline), "deadline", "task", "overhead", "tick" (s), "availability"}.
    """
    rng = random.Random(seed)
    combos = [(k, d) for k in REGION_COUNTS for d in DEADLINE_HOURS]
    cases = []
    for p in range(count):
        k, deadline_h = combos[p % len(combos)]
        n = deadline_h * 3600 // TICK_SECONDS
        chains = _Chains(rng, k)
        rows = [chains.tick(rng) for _ in range(n)]
        avail = ["".join(str(row[r]) for row in rows) for r in range(k)]
        cases.append(
            {
                "name": f"m{p:02d}",
                "avail": avail,
                "deadline": deadline_h * 3600,
                "task": TASK_SECONDS,
                "overhead": OVERHEAD_SECONDS,
                "tick": TICK_SECONDS,
                "availability": [round(a.count("1") / n, 2) for a in avail],
            }
        )
    return cases


def training_cases():
    return make_cases(TRAIN_SEED, TRAIN_CASES)


def heldout_cases():
    return make_cases(HELDOUT_SEED, HELDOUT_CASES)
