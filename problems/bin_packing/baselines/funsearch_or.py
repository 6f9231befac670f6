"""Reference: FunSearch's published OR heuristic. Online bin packing (FunSearch): items arrive one at a time and each must go into a bin at
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
    """The heuristic FunSearch discovered for the OR datasets (Romera-Paredes et al., Nature 2024;
    google-deepmind/funsearch, bin_packing notebook): a step function of the room the item would
    leave. Transcribed with np.select instead of a per-bin Python function (same values, same
    first-index tie-breaking)."""
    d = bins - item
    thresholds = [2, 3, 5, 7, 9, 12, 15, 18, 20, 21]
    values = [4, 3, 2, 1, 0.9, 0.95, 0.97, 0.98, 0.98, 0.98]
    return np.select([d <= t for t in thresholds], values, default=0.99)


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
