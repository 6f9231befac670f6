"""Seeded online bin packing instances, after the datasets FunSearch reports on.

- OR1-OR4-like: item sizes uniform on the integers 20-100, bin capacity 150, 120 / 250 / 500 /
  1000 items (the OR-Library "binpack1-4" classes, Falkenauer's u120-u1000);
- Weibull 5k: 5000 items with sizes from Weibull(scale 45, shape 3), rounded and clipped to
  1-100, bin capacity 100 (FunSearch's Weibull benchmark).

Pure stdlib (random.Random), identical on every machine.
"""

from __future__ import annotations

import math
import random

OR_CLASSES = {"or1": 120, "or2": 250, "or3": 500, "or4": 1000}
OR_CAPACITY = 150
WEIBULL_ITEMS = 5000
WEIBULL_CAPACITY = 100
GROUPS = ("or1", "or2", "or3", "or4", "weibull")

TRAIN = {"seed": 31337, "or": 10, "weibull": 3}
HELDOUT = {"seed": 4242, "or": 20, "weibull": 5}


def or_items(rng: random.Random, n: int) -> list[int]:
    return [rng.randint(20, 100) for _ in range(n)]


def weibull_items(rng: random.Random, n: int) -> list[int]:
    return [min(100, max(1, round(rng.weibullvariate(45, 3)))) for _ in range(n)]


def draw(group: str, rng: random.Random, n: int) -> list[int]:
    return weibull_items(rng, n) if group == "weibull" else or_items(rng, n)


def make(seed: int, per_or: int, per_weibull: int) -> list[dict]:
    """Instances: {"name", "group", "capacity", "items"}."""
    rng = random.Random(seed)
    out = []
    for group, n in OR_CLASSES.items():
        for k in range(per_or):
            out.append({"name": f"{group}-{k:02d}", "group": group, "capacity": OR_CAPACITY, "items": or_items(rng, n)})
    for k in range(per_weibull):
        out.append(
            {
                "name": f"weibull5k-{k:02d}",
                "group": "weibull",
                "capacity": WEIBULL_CAPACITY,
                "items": weibull_items(rng, WEIBULL_ITEMS),
            }
        )
    return out


def training_instances():
    return make(TRAIN["seed"], TRAIN["or"], TRAIN["weibull"])


def heldout_instances():
    return make(HELDOUT["seed"], HELDOUT["or"], HELDOUT["weibull"])


def l1_bound(items: list[int], capacity: int) -> int:
    return math.ceil(sum(items) / capacity)
