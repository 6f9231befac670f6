"""Seeded spot-availability traces and jobs for the single-region spot scheduling problem.

Every trace is a two-state Markov chain over 10-minute ticks (1 = spot capacity available).
Each trace has its own mean availability (0.2-0.8) and mean available-run length (5-60 ticks).
Pure stdlib (random.Random), so the same seed gives the same traces on every machine.
"""

from __future__ import annotations

import math
import random

TICK_SECONDS = 600
TASK_SECONDS = 48 * 3600
DEADLINE_HOURS = (52, 70, 92)
OVERHEAD_SECONDS = (72, 720, 1440)  # 0.02 h, 0.2 h, 0.4 h
PRICE_ON_DEMAND = 3.06  # $/h, p3.2xlarge
PRICE_SPOT = 0.9731  # $/h

TRAIN_SEED = 20240611
TRAIN_CASES = 72
HELDOUT_SEED = 97531
HELDOUT_CASES = 108


def _chain(rng: random.Random, n: int, state: int, p_up_to_down: float, p_down_to_up: float) -> list[int]:
    out = []
    for _ in range(n):
        out.append(state)
        flip = p_up_to_down if state else p_down_to_up
        if rng.random() < flip:
            state = 1 - state
    return out


def make_cases(seed: int, count: int) -> list[dict]:
    """Return `count` cases. A case: {"name", "avail" (string of '0'/'1', one per tick up to the
    deadline), "deadline" (s), "task" (s), "overhead" (s), "tick" (s), "availability", "mean_run"}.
    """
    rng = random.Random(seed)
    cases = []
    for k in range(count):
        deadline_h = DEADLINE_HOURS[k % len(DEADLINE_HOURS)]
        overhead = OVERHEAD_SECONDS[(k // len(DEADLINE_HOURS)) % len(OVERHEAD_SECONDS)]
        availability = rng.uniform(0.2, 0.8)
        up_run = math.exp(rng.uniform(math.log(5), math.log(60)))
        down_run = max(1.0, up_run * (1 - availability) / availability)
        n = deadline_h * 3600 // TICK_SECONDS
        first = 1 if rng.random() < availability else 0
        trace = _chain(rng, n, first, 1.0 / up_run, 1.0 / down_run)
        cases.append(
            {
                "name": f"t{k:02d}",
                "avail": "".join(map(str, trace)),
                "deadline": deadline_h * 3600,
                "task": TASK_SECONDS,
                "overhead": overhead,
                "tick": TICK_SECONDS,
                "availability": round(sum(trace) / n, 3),
                "mean_run": round(up_run, 1),
            }
        )
    return cases


def training_cases():
    return make_cases(TRAIN_SEED, TRAIN_CASES)


def heldout_cases():
    return make_cases(HELDOUT_SEED, HELDOUT_CASES)
