"""Seeded transaction workloads and the evaluator's own makespan model.

A workload is a list of transactions; a transaction is a list of operations [op, key] with op
"r" (read) or "w" (write) and an integer key. Three families, after the ADRS case study (VLDB'24
transaction scheduling):

- "skewed":  100 transactions of 16 operations on Zipf-distributed keys (a few hot keys), 30% writes;
- "tpcc":    100 transactions from two TPC-C-like templates (NewOrder and Payment) over two
             warehouses: hot warehouse and district rows, stock rows of popular items;
- "rw_pair": 100 transactions that read one key and write another, from 25 keys.

Pure stdlib (random.Random): the same seed gives the same workloads on every machine.

The makespan model (unit-time operations, strict two-phase locking): a transaction placed at
start time s runs its operation j during [s + j, s + j + 1) and holds the lock it takes there
until it commits at s + len. Transactions are placed in the given order, each at the earliest
start where every operation finds its lock free: a read waits for the write locks of earlier
transactions on that key to be released, a write for their read and write locks. Reads share.
The makespan is the latest commit time.
"""

from __future__ import annotations

import random

TRAIN = [("skewed", 101), ("skewed", 102), ("tpcc", 201), ("tpcc", 202), ("rw_pair", 301), ("rw_pair", 302)]
HELDOUT = [
    ("skewed", 1101),
    ("skewed", 1102),
    ("skewed", 1103),
    ("tpcc", 1201),
    ("tpcc", 1202),
    ("tpcc", 1203),
    ("rw_pair", 1301),
    ("rw_pair", 1302),
    ("rw_pair", 1303),
]
SIZE = 100


def _zipf_sampler(rng: random.Random, n: int, s: float):
    weights = [1.0 / (i + 1) ** s for i in range(n)]
    keys = list(range(n))
    rng.shuffle(keys)
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)

    def draw() -> int:
        u = rng.random() * total
        lo, hi = 0, n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] < u:
                lo = mid + 1
            else:
                hi = mid
        return keys[lo]

    return draw


def skewed(rng: random.Random) -> list[list]:
    draw = _zipf_sampler(rng, 1000, 0.8)
    txns = []
    for _ in range(SIZE):
        ops = []
        for _ in range(16):
            ops.append(["w" if rng.random() < 0.3 else "r", draw()])
        txns.append(ops)
    return txns


def tpcc(rng: random.Random) -> list[list]:
    # key spaces: warehouse w -> 1000*w, district -> 1000*w + 10 + d, customer -> 1000*w + 100 + ...,
    # stock -> 1000*w + 500 + item
    item = _zipf_sampler(rng, 100, 0.9)
    txns = []
    for _ in range(SIZE):
        w = rng.randrange(2)
        d = rng.randrange(10)
        base = 100_000 * (w + 1)
        warehouse, district = base, base + 10 + d
        customer = base + 1000 + d * 100 + rng.randrange(30)
        if rng.random() < 0.5:  # NewOrder
            ops = [["r", warehouse], ["r", district], ["w", district], ["r", customer]]
            for i in sorted({item() for _ in range(rng.randint(5, 10))}):
                ops += [["r", base + 5000 + i], ["w", base + 5000 + i]]
            ops.append(["w", base + 20_000 + rng.randrange(100_000)])  # new order row, no conflict
        else:  # Payment
            ops = [
                ["r", warehouse],
                ["w", warehouse],
                ["r", district],
                ["w", district],
                ["r", customer],
                ["w", customer],
                ["w", base + 50_000 + rng.randrange(100_000)],
            ]
        txns.append(ops)
    return txns


def rw_pair(rng: random.Random) -> list[list]:
    txns = []
    for _ in range(SIZE):
        a = rng.randrange(25)
        b = rng.randrange(24)
        b = b + 1 if b >= a else b
        txns.append([["r", a], ["w", b]])
    return txns


FAMILIES = {"skewed": skewed, "tpcc": tpcc, "rw_pair": rw_pair}


def make(family: str, seed: int) -> list[list]:
    return FAMILIES[family](random.Random(seed))


def training_workloads():
    return [(f"{f}-{s}", make(f, s)) for f, s in TRAIN]


def heldout_workloads():
    return [(f"{f}-{s}", make(f, s)) for f, s in HELDOUT]


def makespan(txns: list[list], order: list[int]) -> int:
    """The makespan of running `txns` in `order` under the model in the module docstring."""
    write_free: dict = {}  # key -> time all write locks placed so far are released
    read_free: dict = {}  # key -> time all read locks placed so far are released
    end = 0
    for i in order:
        ops = txns[i]
        start = 0
        for j, (op, key) in enumerate(ops):
            ready = write_free.get(key, 0)
            if op == "w":
                ready = max(ready, read_free.get(key, 0))
            start = max(start, ready - j)
        commit = start + len(ops)
        for op, key in ops:
            table = write_free if op == "w" else read_free
            if table.get(key, 0) < commit:
                table[key] = commit
        end = max(end, commit)
    return end


def lower_bound(txns: list[list]) -> int:
    """A makespan no order can beat: the longest transaction, and for every key the write locks
    on it, which exclude each other and last from the first write to the commit."""
    per_key: dict = {}
    for ops in txns:
        first: dict = {}
        for j, (op, key) in enumerate(ops):
            if op == "w" and key not in first:
                first[key] = j
        for key, j in first.items():
            per_key[key] = per_key.get(key, 0) + len(ops) - j
    return max([max(len(ops) for ops in txns), *per_key.values()])
