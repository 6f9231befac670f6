"""Score a cloudcast candidate: the cost of its broadcast plans, priced on the evaluator's graph.

The candidate returns only paths. Each path is checked (starts at the source, ends at its
destination, every hop an existing link, no region twice); egress, transfer time and VM cost are
computed here from the evaluator's own graph (network.broadcast_cost).
"""

import itertools

import network as N
from evolve_eval import CandidateError, run_candidate

TIMEOUT = 40
INPUT_KEYS = ("source", "destinations", "graph", "regions", "data_gb", "num_partitions", "num_vms")


def _check_plan(case, plan):
    """Return None if the plan is valid, else a one-line reason."""
    if not isinstance(plan, dict):
        return f"plan must be a dict destination -> paths, got {type(plan).__name__}"
    wanted, got = set(case["destinations"]), set(plan)
    if wanted - got:
        return f"no paths for destination(s) {sorted(wanted - got)}"
    if got - wanted:
        return f"paths for regions that are not destinations: {sorted(map(str, got - wanted))[:3]}"
    graph, source, parts = case["graph"], case["source"], case["num_partitions"]
    for dst in case["destinations"]:
        paths = plan[dst]
        if not isinstance(paths, list) or len(paths) != parts:
            n = len(paths) if isinstance(paths, list) else type(paths).__name__
            return f"{dst}: expected {parts} paths (one per partition), got {n}"
        for p, path in enumerate(paths):
            if not isinstance(path, list) or not all(isinstance(r, str) for r in path) or len(path) < 2:
                return f"{dst} partition {p}: a path is a list of at least two region names"
            if path[0] != source:
                return f"{dst} partition {p}: path starts at {path[0]!r}, not at the source {source!r}"
            if path[-1] != dst:
                return f"{dst} partition {p}: path ends at {path[-1]!r}, not at the destination"
            if len(set(path)) != len(path):
                return f"{dst} partition {p}: path visits a region twice"
            for u, v in itertools.pairwise(path):
                if u not in graph or v not in graph[u]:
                    return f"{dst} partition {p}: no link {u} -> {v} in the graph"
    return None


def _score(program_path, seeds):
    cases = N.make_cases(seeds)
    inputs = [{k: c[k] for k in INPUT_KEYS} for c in cases]
    try:
        plans = run_candidate(program_path, "run", args=(inputs,), timeout=TIMEOUT)
    except CandidateError as exc:
        return {"error": str(exc)}
    seconds = run_candidate.last_seconds
    if not isinstance(plans, list) or len(plans) != len(cases):
        got = len(plans) if isinstance(plans, list) else type(plans).__name__
        return {"error": f"run() must return one plan per case ({len(cases)}), got {got}"}

    rows = []
    for i, (case, plan) in enumerate(zip(cases, plans)):
        reason = _check_plan(case, plan)
        if reason:
            return {"error": f"case {i}: {reason}"}
        cost = N.broadcast_cost(case, plan)
        direct = N.broadcast_cost(case, N.direct_paths(case))
        rows.append((100.0 * (1.0 - cost["total"] / direct["total"]), i, case, cost, direct))

    savings = sum(r[0] for r in rows) / len(rows)
    total = sum(r[3]["total"] for r in rows)
    direct_total = sum(r[4]["total"] for r in rows)
    worst = sorted(rows, key=lambda r: r[0])[:3]
    worst_text = "; ".join(
        f"case {i} ({case['source']} -> {len(case['destinations'])} destinations, {case['data_gb']:g} GB): "
        f"${cost['total']:.2f} vs direct ${direct['total']:.2f} ({s:+.1f}%), egress ${cost['egress']:.2f}, "
        f"VMs ${cost['vm']:.2f} for {cost['seconds']:.0f} s, bottleneck {cost['bottleneck']}"
        for s, i, case, cost, direct in worst
    )
    return {
        "score": savings,
        "savings_percent": savings,
        "total_cost": total,
        "direct_cost": direct_total,
        "egress_cost": sum(r[3]["egress"] for r in rows),
        "vm_cost": sum(r[3]["vm"] for r in rows),
        "transfer_seconds": sum(r[3]["seconds"] for r in rows) / len(rows),
        "seconds": seconds,
        "feedback": (
            f"Mean saving vs sending directly from the source to every destination: {savings:.2f}% "
            f"(total ${total:.2f} vs ${direct_total:.2f} over {len(rows)} cases). "
            f"Least saving: {worst_text}."
        ),
    }


def evaluate(program_path):
    return _score(program_path, N.TRAIN_SEEDS)


def evaluate_heldout(program_path):
    return _score(program_path, N.HELDOUT_SEEDS)
