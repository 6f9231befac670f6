"""Transaction scheduling: order a batch of conflicting transactions to minimise the makespan.

Each transaction is a list of operations [op, key], op "r" or "w". Operations take one time unit
each; a transaction placed at start s runs operation j in [s + j, s + j + 1) and keeps every lock
it took until it commits at s + len (strict two-phase locking). Transactions are placed in the
order you return, each at the earliest start where its locks are free: a read waits for earlier
transactions' write locks on its key, a write for their read and write locks; reads share.
The makespan is the latest commit. Return, per workload, an order (a permutation of its
transaction indices) with a small makespan.

Evolve `get_schedule`. `Schedule` and `makespan` below the block are fixed helpers you may use;
the evaluator recomputes every makespan itself from the orders you return.
"""

import random
import time


# EVOLVE-BLOCK-START
def get_schedule(txns, deadline):
    """Greedy cost sampling: from a random start, repeatedly look at a few of the remaining
    transactions and append the one that keeps the makespan (then its own commit) smallest.

    txns: list of transactions (lists of [op, key]); deadline: time.monotonic() value by which
    this workload's order should be returned. Returns a permutation of range(len(txns)).
    """
    rng = random.Random(0)
    left = list(range(len(txns)))
    rng.shuffle(left)
    sched = Schedule(txns)
    sample = 10
    while left:
        candidates = left[:sample]
        best = min(candidates, key=lambda i: (max(sched.end, sched.commit_if_added(i)), sched.commit_if_added(i)))
        left.remove(best)
        sched.add(best)
    return sched.order


# EVOLVE-BLOCK-END


class Schedule:
    """An order under construction: `commit_if_added(i)` is the commit time transaction i would
    get if appended now, `add(i)` appends it; `end` is the makespan so far, `order` the order."""

    def __init__(self, txns):
        self.txns = txns
        self.write_free = {}
        self.read_free = {}
        self.end = 0
        self.order = []

    def commit_if_added(self, i):
        ops = self.txns[i]
        start = 0
        write_free, read_free = self.write_free, self.read_free
        for j, (op, key) in enumerate(ops):
            ready = write_free.get(key, 0)
            if op == "w":
                ready = max(ready, read_free.get(key, 0))
            start = max(start, ready - j)
        return start + len(ops)

    def add(self, i):
        commit = self.commit_if_added(i)
        for op, key in self.txns[i]:
            table = self.write_free if op == "w" else self.read_free
            if table.get(key, 0) < commit:
                table[key] = commit
        self.end = max(self.end, commit)
        self.order.append(i)


def makespan(txns, order):
    sched = Schedule(txns)
    for i in order:
        sched.add(i)
    return sched.end


def schedule_all(workloads, time_limit):
    """Order every workload, giving each an equal share of `time_limit` seconds."""
    orders = []
    started = time.monotonic()
    for k, txns in enumerate(workloads):
        share = (time_limit - (time.monotonic() - started)) / (len(workloads) - k)
        orders.append(get_schedule(txns, time.monotonic() + max(0.0, share)))
    return orders
