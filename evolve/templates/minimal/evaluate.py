"""The evaluator: scores one candidate program. Read this file top to bottom once; it is the
contract between your problem and evolve (docs/problems.md has the long version).

WHAT evaluate(program_path) RETURNS
    A dict. Either a valid candidate:
        {"score": -0.42, "rmse": 0.42, ..., "feedback": "text for the model"}
    or an invalid one:
        {"error": "one line saying which rule the candidate broke"}

    score     required, a finite number, HIGHER IS BETTER (negate a cost or an error).
    error     a string: the candidate is invalid (it gets no score and cannot become a parent).
              Return it when the CANDIDATE is at fault: it crashed, timed out, returned the wrong
              shape, broke a constraint. Do not raise for that: an exception escaping
              evaluate() is recorded as an "evaluator error", which should mean a bug in this file.
    feedback  optional text (at most 4000 characters are kept) that the next prompt built on this
              program shows the model. Name the worst cases and what is wrong with them; that is
              what turns a random search into a directed one.
    anything else that is a number is a metric: stored, shown in prompts and usable as a
              MAP-Elites feature in problem.toml. Every number must be finite (no NaN/inf), or the
              candidate is invalid. Values that are not numbers are ignored.

NEVER IMPORT THE CANDIDATE
    `import initial_program` or importlib would run untrusted code inside the evaluator, where it
    could patch numpy, replace this module's functions or write its own result. Call it through
    `run_candidate(program_path, "function", args=..., timeout=...)` instead: it runs the function
    in a separate Python process and gives back only its return value, decoded from JSON (tuples
    and numpy arrays arrive as lists). It raises CandidateError with a one-line reason when the
    candidate crashes, times out or returns something that is not JSON.

COMPUTE EVERY FIGURE YOURSELF
    The candidate returns predictions; the error is computed here, from values the candidate
    never sees. Never read a score, a cost or a count that the candidate reports about itself,
    and check the shape, type, range and finiteness of everything it returns before using it.

HELD-OUT DATA
    evaluate() scores the training data, which evolution optimises against (through selection,
    even if the candidate never sees the answers). evaluate_heldout() scores fresh data drawn the
    same way with other seeds; problem.toml names it as `heldout_function`, and `evolve check`
    and the end-of-run summary report it, so you can see whether the best program generalises.

WHERE THIS RUNS
    Inside the sandbox (Docker by default): no network, a read-only root, only /tmp writable.
    This folder is on sys.path, so helper modules next to this file (data.py, ...) can be
    imported here; the candidate runs with `python -I` in a temporary directory and cannot import
    them, so pass it everything it needs as arguments.
"""

import math
import random

from evolve_eval import CandidateError, run_candidate

# Seconds for the candidate's one call. Keep it below evaluation.timeout in problem.toml (30 s),
# so that a slow candidate is reported by this evaluator, with a reason, rather than killed.
CANDIDATE_TIMEOUT = 20

N_TRAIN = 30  # samples the candidate learns from, per dataset
N_QUERY = 200  # points it must predict, per dataset (their true values stay here)
NOISE = 0.1  # standard deviation of the noise; no predictor can beat an RMSE of about this
TRAIN_SEEDS = (0, 1, 2)  # the data evolution is scored on
HELDOUT_SEEDS = (1000, 1001, 1002)  # scored only by evaluate_heldout
REGIONS = ((-2.0, -1.0), (-1.0, 0.0), (0.0, 1.0), (1.0, 2.0))


def _curve(x):
    """The unknown function. The candidate is told only that it is smooth, on [-2, 2]."""
    return math.sin(3.0 * x) + 0.5 * x * x


def make_dataset(seed, n_train=N_TRAIN, n_query=N_QUERY):
    """A seeded dataset: the same seed gives the same numbers on every machine (random.Random)."""
    rng = random.Random(seed)
    train_x = sorted(rng.uniform(-2.0, 2.0) for _ in range(n_train))
    train_y = [_curve(x) + rng.gauss(0.0, NOISE) for x in train_x]
    query_x = [rng.uniform(-2.0, 2.0) for _ in range(n_query)]
    query_y = [_curve(x) + rng.gauss(0.0, NOISE) for x in query_x]
    return {"train_x": train_x, "train_y": train_y, "query_x": query_x}, query_y


def _check_predictions(value, n):
    """None if `value` is a list of n finite real numbers, else a one-line reason."""
    if not isinstance(value, list):
        return f"expected a list of {n} numbers, got {type(value).__name__}"
    if len(value) != n:
        return f"expected {n} predictions (one per query point), got {len(value)}"
    for i, v in enumerate(value):
        # bool is a subclass of int in Python: True would pass as 1 without this check.
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"prediction {i} is {v!r}, not a number"
        if not math.isfinite(v):
            return f"prediction {i} is {v} (predictions must be finite)"
    return None


def _score(program_path, seeds, n_query=N_QUERY):
    datasets = [make_dataset(seed, n_query=n_query) for seed in seeds]
    tasks = [task for task, _ in datasets]
    try:
        # One call for all datasets: each run_candidate call costs a Python process start.
        result = run_candidate(program_path, "predict_all", args=(tasks,), timeout=CANDIDATE_TIMEOUT)
    except CandidateError as exc:
        return {"error": str(exc)}  # crashed, timed out, or returned something that is not JSON
    seconds = run_candidate.last_seconds  # the candidate's wall time, process start included

    if not isinstance(result, list) or len(result) != len(tasks):
        got = f"a list of {len(result)}" if isinstance(result, list) else type(result).__name__
        return {"error": f"predict_all() must return one list of predictions per task ({len(tasks)}), got {got}"}

    rmses, region_sq, region_n = [], [0.0] * len(REGIONS), [0] * len(REGIONS)
    for k, ((task, truth), predictions) in enumerate(zip(datasets, result)):
        reason = _check_predictions(predictions, len(truth))
        if reason:
            return {"error": f"dataset {k}: {reason}"}
        squared = [(p - t) ** 2 for p, t in zip(predictions, truth)]
        rmses.append(math.sqrt(sum(squared) / len(squared)))
        for x, sq in zip(task["query_x"], squared):
            r = min(int((x + 2.0) / 1.0), len(REGIONS) - 1)
            region_sq[r] += sq
            region_n[r] += 1

    rmse = sum(rmses) / len(rmses)
    by_region = [math.sqrt(s / n) if n else 0.0 for s, n in zip(region_sq, region_n)]
    worst = max(range(len(REGIONS)), key=lambda r: by_region[r])
    regions_text = ", ".join(f"[{lo:g}, {hi:g}]: {e:.3f}" for (lo, hi), e in zip(REGIONS, by_region))
    return {
        "score": -rmse,  # higher is better, so the error is negated
        "rmse": rmse,
        "worst_dataset_rmse": max(rmses),
        "worst_region_rmse": by_region[worst],
        "seconds": seconds,
        # Feedback says where the predictions go wrong without giving away the query points'
        # true values (a model that saw them could learn the answers instead of a method).
        "feedback": (
            f"Mean RMSE over {len(rmses)} datasets: {rmse:.4f} (the noise alone gives about {NOISE}). "
            f"RMSE by region of x: {regions_text}; worst region [{REGIONS[worst][0]:g}, {REGIONS[worst][1]:g}]. "
            f"Per dataset: {', '.join(f'{e:.3f}' for e in rmses)}."
        ),
    }


def evaluate(program_path):
    """The score evolution optimises: the training datasets."""
    return _score(program_path, TRAIN_SEEDS)


def evaluate_heldout(program_path):
    """The same measurement on datasets evolution never sees (problem.toml: heldout_function)."""
    return _score(program_path, HELDOUT_SEEDS)


def evaluate_quick(program_path):
    """A cascade stage (off by default, see problem.toml): one small dataset, to reject broken
    candidates cheaply before the full evaluation. Same contract as evaluate()."""
    return _score(program_path, TRAIN_SEEDS[:1], n_query=20)
