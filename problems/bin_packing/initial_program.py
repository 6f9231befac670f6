"""Online bin packing (FunSearch): items arrive one at a time and each must go into a bin at
once, without knowing the items still to come. Use as few bins as possible.

Evolve `priority(item, bins)`: given the arriving item's size and the remaining capacities of
the bins it fits in, return one score per bin; the item goes into the bin with the highest score.
As in FunSearch, `bins` includes the still-empty bins (remaining capacity = full capacity), so
opening a new bin is just choosing one of those. The harness below (`pack`) is fixed; the
evaluator checks its assignments and counts the bins itself.
"""

import random

import numpy as np


# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Best fit: prefer the bin that the item leaves with the least room."""
    return -(bins - item)


# EVOLVE-BLOCK-END


def pack(instances):
    """Pack each instance online with `priority`; return, per instance, each item's bin index."""
    out = []
    for inst in instances:
        random.seed(0)
        np.random.seed(0)
        items = inst["items"]
        bins = np.full(len(items), float(inst["capacity"]))
        assignment = []
        for item in items:
            valid = np.nonzero(bins - item >= 0)[0]
            scores = np.asarray(priority(float(item), bins[valid]), dtype=float)
            best = int(valid[int(np.argmax(scores))])
            bins[best] -= item
            assignment.append(best)
        out.append(assignment)
    return out
