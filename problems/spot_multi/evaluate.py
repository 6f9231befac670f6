"""Score a multi-region spot scheduling policy by replaying its decisions.

The candidate's fixed harness (`run_policy`) runs its Policy tick by tick over the cases, showing
it only the availability of the region the job is in, and returns only the action log of each case. Everything else happens here:

1. every action is checked against availability, and progress, restart overheads, cost and the
   deadline are recomputed by simulator.replay (the candidate reports no number);
2. a second run audits causality: each trace is cut at a random tick; before the cut only the
   cells the policy observed (the current region's availability at each tick) are kept, every
   other cell (other regions, and everything from the cut on) is replaced by random availability,
   and the policy must make exactly the same decisions before the cut. A policy that only uses
   what it has observed always does; one that reads other regions or the future out of the
   harness does not.
"""

from __future__ import annotations

import os
import random

import simulator
import traces
from evolve_eval import CandidateError, run_candidate

TIMEOUT = 12  # per run of the candidate; an evaluation runs it twice


def _public(case: dict, name: str | None = None) -> dict:
    out = {k: case[k] for k in ("name", "avail", "deadline", "task", "overhead", "tick")}
    if name is not None:
        out["name"] = name
    out["price_spot"], out["price_on_demand"] = traces.PRICE_SPOT, traces.PRICE_ON_DEMAND
    return out


def _run(program_path, cases):
    logs = run_candidate(program_path, "run_policy", args=(cases,), timeout=TIMEOUT)
    if not isinstance(logs, list) or len(logs) != len(cases):
        raise CandidateError(f"run_policy must return one action log per case ({len(cases)})")
    return logs


def audit(program_path, cases, logs) -> str | None:
    """Rerun on traces that keep only what the policy observed before a random cut; None if the
    decisions before each cut are unchanged, else the reason."""
    # Unpredictable cuts: a candidate that knew where they fall could peek past them elsewhere.
    rng = random.Random(os.urandom(16))
    probes, cuts = [], []
    for case, log in zip(cases, logs):
        cut = rng.randint(1, max(1, len(log)))
        n = len(case["avail"][0])
        rows = [[rng.choice("01") for _ in range(n)] for _ in case["avail"]]
        here = 0
        for t in range(cut):
            rows[here][t] = case["avail"][here][t]  # the one cell the policy saw at tick t
            here = log[t][0]
        probes.append(dict(case, avail=["".join(row) for row in rows]))
        cuts.append(cut)
    order = list(range(len(cases)))
    rng.shuffle(order)
    try:
        shuffled = _run(program_path, [_public(probes[i], f"p{k:03d}") for k, i in enumerate(order)])
    except CandidateError as exc:
        return f"audit run: {exc}"
    again = [None] * len(cases)
    for k, i in enumerate(order):
        again[i] = shuffled[k]
    for i, (case, log) in enumerate(zip(cases, logs)):
        cut = cuts[i]
        if not isinstance(again[i], list) or again[i][:cut] != log[:cut]:
            other = again[i] if isinstance(again[i], list) else []
            t = next((k for k in range(cut) if k >= len(other) or k >= len(log) or other[k] != log[k]), cut)
            return (
                f"case {case['name']}: with the availability it observed unchanged up to tick {cut} but everything else different, the "
                f"policy decided differently at tick {t}: decisions must depend only on what has been observed "
                "so far in the current case (no lookahead, no peeking at other regions, no state carried between cases, no unseeded randomness)"
            )
    return None


def score_cases(program_path, cases) -> dict:
    try:
        logs = _run(program_path, [_public(c) for c in cases])
    except CandidateError as exc:
        return {"error": str(exc)}
    seconds = run_candidate.last_seconds
    try:
        results = [simulator.replay(case, log) for case, log in zip(cases, logs)]
    except simulator.ReplayError as exc:
        return {"error": str(exc)}
    problem = audit(program_path, cases, logs)
    if problem:
        return {"error": problem}

    scores = [simulator.case_score(c, r.cost) for c, r in zip(cases, results)]
    n = len(cases)
    spot = sum(r.spot_seconds for r in results)
    od = sum(r.on_demand_seconds for r in results)
    mean_cost = sum(r.cost for r in results) / n
    ranked = sorted(range(n), key=lambda k: scores[k])
    lines = []
    for k in ranked[:4]:
        c, r = cases[k], results[k]
        lines.append(
            f"{c['name']} ({len(c['avail'])} regions, spot availability "
            f"{'/'.join(f'{a:.2f}' for a in c['availability'])}, deadline {c['deadline'] // 3600} h): "
            f"cost ${r.cost:.2f}, score {scores[k]:.1f}, {r.on_demand_seconds / 3600:.1f} h on demand, "
            f"{r.restarts} restarts, {r.moves} region moves, finished {r.slack_seconds / 3600:.1f} h before the deadline"
        )
    by_regions = {}
    for c, s in zip(cases, scores):
        by_regions.setdefault(len(c["avail"]), []).append(s)
    split = ", ".join(f"{k} regions: {sum(v) / len(v):.1f}" for k, v in sorted(by_regions.items()))
    score = sum(scores) / n
    return {
        "score": score,
        "mean_cost": mean_cost,
        "min_case_score": scores[ranked[0]],
        "od_share": od / max(1, od + spot),
        "mean_restarts": sum(r.restarts for r in results) / n,
        "mean_moves": sum(r.moves for r in results) / n,
        "mean_slack_hours": sum(r.slack_seconds for r in results) / n / 3600,
        "seconds": seconds,
        "feedback": (
            f"All {n} jobs met their deadlines. Score {score:.2f} (0 = all on-demand ${48 * traces.PRICE_ON_DEMAND:.2f}, "
            f"100 = all spot ${48 * traces.PRICE_SPOT:.2f}); mean cost ${mean_cost:.2f}; on-demand share of paid "
            f"time {od / max(1, od + spot):.0%}. Mean score by region count: {split}.\nWorst cases:\n- "
            + "\n- ".join(lines)
        ),
    }


def evaluate(program_path):
    return score_cases(program_path, traces.training_cases())


def evaluate_heldout(program_path):
    return score_cases(program_path, traces.heldout_cases())
