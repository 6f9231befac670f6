"""Seeded spot-availability traces and jobs for the single-region spot scheduling problem.

Every trace is a two-state Markov chain over 10-minute ticks (1 = spot capacity available).
Each trace has its own mean availability (0.2-0.8) and mean available-run length (5-60 ticks).
Traces come in *twins*: two traces that agree up to a random cut tick and then continue
independently from the same chain. Both twins are scored; the evaluator also checks that the
policy made the same decisions on the shared prefix, which a policy that only sees the present
always does (one that peeks at future availability does not).

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
TRAIN_PAIRS = 36
HELDOUT_SEED = 97531
HELDOUT_PAIRS = 54


def _chain(rng: random.Random, n: int, state: int, p_up_to_down: float, p_down_to_up: float) -> list[int]:
    out = []
    for _ in range(n):
        out.append(state)
        flip = p_up_to_down if state else p_down_to_up
        if rng.random() < flip:
            state = 1 - state
    return out


def make_cases(seed: int, pairs: int) -> tuple[list[dict], list[tuple[int, int, int]]]:
    """Return (cases, twins): 2*pairs cases in a shuffled order, and (i, j, cut) for each twin pair.

    A case: {"name", "avail" (string of '0'/'1', one per tick up to the deadline), "deadline"
    (s), "task" (s), "overhead" (s), "tick" (s), "availability", "mean_run"}.
    """
    rng = random.Random(seed)
    raw = []
    for k in range(pairs):
        deadline_h = DEADLINE_HOURS[k % len(DEADLINE_HOURS)]
        overhead = OVERHEAD_SECONDS[(k // len(DEADLINE_HOURS)) % len(OVERHEAD_SECONDS)]
        availability = rng.uniform(0.2, 0.8)
        up_run = math.exp(rng.uniform(math.log(5), math.log(60)))
        down_run = max(1.0, up_run * (1 - availability) / availability)
        p_off, p_on = 1.0 / up_run, 1.0 / down_run
        n = deadline_h * 3600 // TICK_SECONDS
        first = 1 if rng.random() < availability else 0
        base = _chain(rng, n, first, p_off, p_on)
        cut = rng.randint(n // 5, (4 * n) // 5)
        last = base[cut - 1]
        nxt = (1 - last) if rng.random() < (p_off if last else p_on) else last
        twin = base[:cut] + _chain(rng, n - cut, nxt, p_off, p_on)
        for variant, trace in (("a", base), ("b", twin)):
            raw.append({
                "name": f"t{k:02d}{variant}",
                "avail": "".join(map(str, trace)),
                "deadline": deadline_h * 3600,
                "task": TASK_SECONDS,
                "overhead": overhead,
                "tick": TICK_SECONDS,
                "availability": round(sum(trace) / n, 3),
                "mean_run": round(up_run, 1),
                "_pair": k,
                "_cut": cut,
            })
    rng.shuffle(raw)
    where: dict[int, list[int]] = {}
    for i, case in enumerate(raw):
        where.setdefault(case.pop("_pair"), []).append(i)
    twins = []
    for k, (i, j) in sorted(where.items()):
        cut = raw[i].pop("_cut")
        raw[j].pop("_cut")
        twins.append((i, j, cut))
    return raw, twins


def training_cases():
    return make_cases(TRAIN_SEED, TRAIN_PAIRS)


def heldout_cases():
    return make_cases(HELDOUT_SEED, HELDOUT_PAIRS)
