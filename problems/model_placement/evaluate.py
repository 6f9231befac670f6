"""Score a model-placement candidate: the worst KV-cache pressure of its placements.

The candidate returns, for each case, which models sit on which GPU. The evaluator checks that
every model is placed exactly once on a valid GPU and that no GPU holds 80 GB or more of models,
then computes every pressure from its own case data (cases.py).
"""

import cases as C
from evolve_eval import CandidateError, run_candidate

TIMEOUT = 40


def _check(case, gpus):
    """Return None if the placement is valid, else a one-line reason."""
    g_num, n = case["gpu_num"], len(case["models"])
    if not isinstance(gpus, list) or len(gpus) != g_num:
        got = len(gpus) if isinstance(gpus, list) else type(gpus).__name__
        return f"expected a list of {g_num} GPUs (lists of model indices), got {got}"
    seen = {}
    for g, members in enumerate(gpus):
        if not isinstance(members, list):
            return f"GPU {g}: expected a list of model indices, got {type(members).__name__}"
        for i in members:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
                return f"GPU {g}: {i!r} is not a model index in 0..{n - 1}"
            if i in seen:
                return f"model {i} placed twice (GPU {seen[i]} and GPU {g})"
            seen[i] = g
        size = sum(case["models"][i]["size"] for i in members)
        if size >= C.GPU_MEM:
            return f"GPU {g} over its memory limit: models total {size} GB (must be under {C.GPU_MEM} GB)"
    if len(seen) != n:
        missing = sorted(set(range(n)) - set(seen))
        return f"{len(missing)} model(s) not placed, e.g. model {missing[0]}"
    return None


def _score(program_path, seed):
    cases = C.make_cases(seed)
    try:
        result = run_candidate(program_path, "run", args=(cases,), timeout=TIMEOUT)
    except CandidateError as exc:
        return {"error": str(exc)}
    seconds = run_candidate.last_seconds
    if not isinstance(result, list) or len(result) != len(cases):
        got = len(result) if isinstance(result, list) else type(result).__name__
        return {"error": f"run() must return one placement per case ({len(cases)}), got {got}"}
    rows = []
    for k, (case, gpus) in enumerate(zip(cases, result)):
        reason = _check(case, gpus)
        if reason:
            return {"error": f"case {k}: {reason}"}
        per_gpu = C.pressures(case, gpus)
        worst = max(per_gpu)
        bound = C.lower_bound(case)
        rows.append((bound / worst if worst > 0 else 1.0, worst, k, case, per_gpu.index(worst)))
    quality = sum(r[0] for r in rows) / len(rows)
    mean_pressure = sum(r[1] for r in rows) / len(rows)
    worst_rows = sorted(rows)[:3]
    worst_text = "; ".join(
        f"case {k} ({case['gpu_num']} GPUs, {len(case['models'])} models): max pressure {p:.4f} on GPU {g} "
        f"vs bound {C.lower_bound(case):.4f} ({q:.2f} of ideal)"
        for q, p, k, case, g in worst_rows
    )
    return {
        "score": quality,
        "bound_ratio": quality,
        "mean_max_pressure": mean_pressure,
        "worst_bound_ratio": worst_rows[0][0],
        "seconds": seconds,
        "feedback": (
            f"Mean over {len(rows)} cases of (lower bound / your max KV-cache pressure): {quality:.4f} "
            f"(1.0 would match the bound total demand / total free memory); mean max pressure "
            f"{mean_pressure:.4f}. Farthest from the bound: {worst_text}."
        ),
    }


def evaluate(program_path):
    return _score(program_path, C.TRAIN_SEED)


def evaluate_heldout(program_path):
    return _score(program_path, C.HELDOUT_SEED)
