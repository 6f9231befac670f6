"""Score an online bin packing heuristic: bins used over the L1 lower bound, counted here.

The candidate's fixed harness (`pack`) runs its priority function online over each instance and
returns only each item's bin index. This file checks every assignment (one bin per item, indices
in range, no bin over capacity), counts the bins itself and compares with the L1 lower bound
ceil(sum of sizes / capacity). A second run audits that the packing is online: on copies of some
instances whose items after a random cut are replaced by fresh ones, every decision before the
cut must be the same (a heuristic that looks at items still to come, or sorts them, changes).
"""

from __future__ import annotations

import os
import random

import instances as data
from evolve_eval import CandidateError, run_candidate

TIMEOUT = 14  # the scored run of the candidate; with the audit, within the 30 s evaluation limit
AUDIT_TIMEOUT = 11  # the audit run (every instance again, cut at random points)


def _public(inst: dict) -> dict:
    return {"capacity": inst["capacity"], "items": inst["items"]}


def _run(program_path, insts, timeout=TIMEOUT):
    out = run_candidate(program_path, "pack", args=([_public(i) for i in insts],), timeout=timeout)
    if not isinstance(out, list) or len(out) != len(insts):
        raise CandidateError(f"pack must return one assignment per instance ({len(insts)})")
    return out


def check(inst: dict, assignment) -> str | None:
    """None when `assignment` places every item once in a bin with room, else the reason."""
    items, cap = inst["items"], inst["capacity"]
    n = len(items)
    if not isinstance(assignment, list):
        return f"{inst['name']}: the assignment is a {type(assignment).__name__}, not a list of bin indices"
    if len(assignment) != n:
        return f"{inst['name']}: {len(assignment)} bin indices for {n} items (every item must be placed exactly once)"
    loads: dict = {}
    for k, (size, b) in enumerate(zip(items, assignment)):
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < n:
            return f"{inst['name']}: item {k} has bin index {b!r} (expected an integer in 0..{n - 1})"
        loads[b] = loads.get(b, 0) + size
        if loads[b] > cap:
            return f"{inst['name']}: bin {b} overflows at item {k} (load {loads[b]} > capacity {cap})"
    return None


def audit(program_path, insts, assignments) -> str | None:
    """Rerun every instance with the items after a random cut replaced by fresh ones; the
    placements before each cut must not change. The cuts are unpredictable (os.urandom): a
    candidate that knew which instances or cut points are checked could look ahead elsewhere."""
    rng = random.Random(os.urandom(16))
    picked = list(range(len(insts)))
    probes, cuts = [], []
    for k in picked:
        inst = insts[k]
        n = len(inst["items"])
        cut = rng.randint(1, n - 1)
        items = inst["items"][:cut] + data.draw(inst["group"], rng, n - cut)
        probes.append(dict(inst, items=items))
        cuts.append(cut)
    order = list(range(len(probes)))
    rng.shuffle(order)
    try:
        shuffled = _run(program_path, [probes[i] for i in order], timeout=AUDIT_TIMEOUT)
    except CandidateError as exc:
        return f"audit run: {exc}"
    for pos, i in enumerate(order):
        k, cut = picked[i], cuts[i]
        again, first = shuffled[pos], assignments[k]
        if not isinstance(again, list) or again[:cut] != first[:cut]:
            t = next(
                (j for j in range(cut) if not isinstance(again, list) or j >= len(again) or again[j] != first[j]), cut
            )
            return (
                f"{insts[k]['name']}: with the same first {cut} items but different items afterwards, item {t} went "
                "into a different bin: placement must depend only on the items seen so far (online packing; no "
                "lookahead, no sorting, no state carried between instances, no unseeded randomness)"
            )
    return None


def score_instances(program_path, insts) -> dict:
    try:
        assignments = _run(program_path, insts)
    except CandidateError as exc:
        return {"error": str(exc)}
    seconds = run_candidate.last_seconds
    for inst, assignment in zip(insts, assignments):
        problem = check(inst, assignment)
        if problem:
            return {"error": problem}
    problem = audit(program_path, insts, assignments)
    if problem:
        return {"error": problem}

    rows = []
    for inst, assignment in zip(insts, assignments):
        used = len(set(assignment))
        bound = data.l1_bound(inst["items"], inst["capacity"])
        rows.append((inst, used, bound, 100.0 * (used - bound) / bound))
    by_group: dict = {}
    for inst, _, _, excess in rows:
        by_group.setdefault(inst["group"], []).append(excess)
    means = {g: sum(v) / len(v) for g, v in by_group.items()}
    mean_excess = sum(means.values()) / len(means)
    result = {
        "score": -mean_excess,
        "mean_excess_pct": mean_excess,
        "seconds": seconds,
        "bins_used": sum(r[1] for r in rows),
        "l1_bound": sum(r[2] for r in rows),
    }
    for g, v in means.items():
        result[f"excess_{g}"] = v
    worst = sorted(rows, key=lambda r: r[3], reverse=True)[:3]
    result["feedback"] = (
        f"All {len(rows)} instances packed validly. Excess bins over the L1 lower bound, mean over groups "
        f"{mean_excess:.2f}% (score = minus that). Per group: "
        + ", ".join(f"{g} {m:.2f}%" for g, m in means.items())
        + ".\nWorst instances:\n- "
        + "\n- ".join(
            f"{inst['name']} ({len(inst['items'])} items, capacity {inst['capacity']}): {used} bins, "
            f"L1 bound {bound}, excess {excess:.2f}%"
            for inst, used, bound, excess in worst
        )
    )
    return result


def evaluate(program_path):
    return score_instances(program_path, data.training_instances())


def evaluate_heldout(program_path):
    return score_instances(program_path, data.heldout_instances())
