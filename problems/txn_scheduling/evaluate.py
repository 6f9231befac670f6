"""Score a transaction scheduler: the makespan of its orders, recomputed here.

The candidate's `schedule_all(workloads, time_limit)` returns one order per workload. This file
checks that each order is a permutation of the workload's transaction indices and computes the
makespan itself with workload.makespan; nothing the candidate says about its cost is read.
Score: the mean speedup over the arrival order (arrival makespan / makespan) across workloads.
"""

from __future__ import annotations

import workload
from evolve_eval import CandidateError, run_candidate

TIME_LIMIT = 3.0  # seconds the candidate is asked to stay within, for all workloads together
TIMEOUT = 15.0  # hard limit for the candidate process


def check_order(order, n: int) -> str | None:
    if not isinstance(order, list):
        return f"the order is a {type(order).__name__}, not a list"
    if len(order) != n:
        return f"the order has {len(order)} entries for {n} transactions"
    if any(isinstance(i, bool) or not isinstance(i, int) for i in order):
        bad = next(i for i in order if isinstance(i, bool) or not isinstance(i, int))
        return f"entry {bad!r} is not a transaction index"
    seen = set(order)
    if len(seen) != n or min(order) < 0 or max(order) >= n:
        missing = sorted(set(range(n)) - seen)[:5]
        return f"not a permutation of 0..{n - 1} (missing e.g. {missing})"
    return None


def score_workloads(program_path, named) -> dict:
    txns = [w for _, w in named]
    try:
        orders = run_candidate(program_path, "schedule_all", args=(txns, TIME_LIMIT), timeout=TIMEOUT)
    except CandidateError as exc:
        return {"error": str(exc)}
    seconds = run_candidate.last_seconds
    if not isinstance(orders, list) or len(orders) != len(txns):
        return {"error": f"schedule_all must return one order per workload ({len(txns)})"}
    rows = []
    for (name, w), order in zip(named, orders):
        problem = check_order(order, len(w))
        if problem:
            return {"error": f"workload {name}: {problem}"}
        span = workload.makespan(w, order)
        arrival = workload.makespan(w, list(range(len(w))))
        rows.append((name, span, arrival, workload.lower_bound(w)))

    speedups = [arrival / span for _, span, arrival, _ in rows]
    families: dict = {}
    for (name, *_), s in zip(rows, speedups):
        families.setdefault(name.split("-")[0], []).append(s)
    result = {
        "score": sum(speedups) / len(speedups),
        "total_makespan": sum(span for _, span, _, _ in rows),
        "arrival_makespan": sum(arrival for _, _, arrival, _ in rows),
        "gap_to_bound": sum(span / bound for _, span, _, bound in rows) / len(rows),
        "seconds": seconds,
    }
    for family, values in families.items():
        result[f"speedup_{family}"] = sum(values) / len(values)
    ranked = sorted(zip(rows, speedups), key=lambda r: r[0][1] / r[0][3], reverse=True)
    lines = [
        f"{name}: makespan {span} (arrival order {arrival}, speedup {s:.2f}x, lower bound {bound})"
        for (name, span, arrival, bound), s in ranked[:3]
    ]
    result["feedback"] = (
        f"Valid orders for all {len(rows)} workloads in {seconds:.1f} s (limit {TIME_LIMIT:g} s). Mean speedup over "
        f"the arrival order {result['score']:.3f}x; total makespan {result['total_makespan']} "
        f"(arrival {result['arrival_makespan']}). Per family: "
        + ", ".join(f"{f} {sum(v) / len(v):.2f}x" for f, v in families.items())
        + ".\nFurthest from the lower bound:\n- "
        + "\n- ".join(lines)
    )
    return result


def evaluate(program_path):
    return score_workloads(program_path, workload.training_workloads())


def evaluate_heldout(program_path):
    return score_workloads(program_path, workload.heldout_workloads())
