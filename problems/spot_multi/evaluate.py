"""Score a multi-region spot scheduling policy by replaying its decisions.

The candidate's fixed harness (`run_policy`) runs its Policy tick by tick over the cases (showing
it only the current region's availability) and returns only the action log of each case.
Everything else happens here: every action is checked against availability, progress, restart
overheads, cost and the deadline are recomputed by simulator.replay, and twin traces (equal up to a cut tick) must get identical decisions on the
shared prefix, so a policy that peeks at future availability is caught.
"""

from __future__ import annotations

from evolve_eval import CandidateError, run_candidate

import simulator
import traces

TIMEOUT = 25


def _public(case: dict) -> dict:
    keys = ("name", "avail", "deadline", "task", "overhead", "tick")
    out = {k: case[k] for k in keys}
    out["price_spot"], out["price_on_demand"] = traces.PRICE_SPOT, traces.PRICE_ON_DEMAND
    return out


def score_cases(program_path, cases, twins) -> dict:
    try:
        logs = run_candidate(program_path, "run_policy", args=([_public(c) for c in cases],), timeout=TIMEOUT)
    except CandidateError as exc:
        return {"error": str(exc)}
    seconds = run_candidate.last_seconds
    if not isinstance(logs, list) or len(logs) != len(cases):
        return {"error": f"run_policy must return one action log per case ({len(cases)})"}
    results = []
    try:
        for case, log in zip(cases, logs):
            results.append(simulator.replay(case, log))
    except simulator.ReplayError as exc:
        return {"error": str(exc)}
    for i, j, cut in twins:
        a, b = logs[i][:cut], logs[j][:cut]
        if a != b:
            t = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            return {"error": (
                f"cases {cases[i]['name']} and {cases[j]['name']} have the same availability up to tick "
                f"{cut} but the policy decided differently at tick {t}: decisions must depend only on "
                "what has been observed so far in the current case (no lookahead, no state carried "
                "between cases, no unseeded randomness)"
            )}

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
            f"time {od / max(1, od + spot):.0%}. Mean score by region count: {split}.\nWorst cases:\n- " + "\n- ".join(lines)
        ),
    }


def evaluate(program_path):
    cases, twins = traces.training_cases()
    return score_cases(program_path, cases, twins)


def evaluate_heldout(program_path):
    cases, twins = traces.heldout_cases()
    return score_cases(program_path, cases, twins)
