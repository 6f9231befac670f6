"""`run_shinka_eval`, as ShinkaEvolve's evaluate.py files call it, run the evolve way: each run
of the experiment function happens in the confined candidate process (evolve_eval.run_candidate),
so the candidate stays behind the Landlock wall while evaluate.py validates and aggregates.

Documented behaviour kept: `num_runs` calls of `experiment_fn_name(**get_experiment_kwargs(i))`
(default kwargs {"seed": i + 1}); `validate_fn(result) -> (ok, message)` on each; the metrics of
`aggregate_metrics_fn(results)` (default: the number of runs) plus execution_time_mean/std;
metrics.json and correct.json ({"correct", "error"}) written to `results_dir`; returns
(metrics, correct, first_error). A failure gives combined_score 0 and correct false.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import evolve_eval

__all__ = ["run_shinka_eval"]


def _enum_member(value):
    """An Enum member the candidate returned ({"__enum__", "name"}), when the evaluator imported
    its class (only modules already imported are looked in); else the value as it came."""
    import enum

    module_name, _, qualname = str(value.get("__enum__", "")).rpartition(".")
    module = sys.modules.get("program" if module_name == "candidate" else module_name)
    cls = getattr(module, qualname, None) if module is not None else None
    if isinstance(cls, type) and issubclass(cls, enum.Enum) and value.get("name") in cls.__members__:
        return cls[value["name"]]
    return value


def _restored(value):
    # The candidate's value crossed a process as JSON: numeric lists become arrays again, as the
    # experiment returned them (evaluators index .shape); with no numpy, lists stay lists.
    try:
        import numpy as np
    except ImportError:
        return value
    if isinstance(value, dict) and "__enum__" in value:
        return _enum_member(value)
    if isinstance(value, list):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            return [_restored(v) for v in value]
        if array.dtype.kind in "biuf" and array.ndim > 0:
            return array
        return [_restored(v) for v in value]
    return value


def _result(value):
    return tuple(_restored(v) for v in value) if isinstance(value, list) else _restored(value)


# Not staged beside the candidate: the evaluator, ShinkaEvolve's launcher, the candidate's original.
_NOT_STAGED = ("evaluate.py", "run_evo.py")


def _staged(program_path):
    """A copy of the candidate beside the problem folder's other Python modules (game_2048's
    env.py), as ShinkaEvolve runs it from the problem folder. The folder holds no evaluator, so
    the confined candidate may read it. Returns (folder, the copy's path)."""
    evaluator = sys.modules.get("problem_evaluate")
    problem_dir = os.path.dirname(getattr(evaluator, "__file__", "") or "")
    folder = tempfile.mkdtemp(prefix="shinka-")
    name = os.path.basename(program_path)
    if problem_dir and os.path.isdir(problem_dir):
        for entry in os.listdir(problem_dir):
            source = os.path.join(problem_dir, entry)
            if (
                entry.endswith(".py")
                and entry not in _NOT_STAGED
                and not entry.startswith("initial.")
                and os.path.isfile(source)
            ):
                shutil.copy(source, os.path.join(folder, entry))
    copy = os.path.join(folder, name)
    shutil.copy(program_path, copy)
    return folder, copy


def _write(results_dir, metrics, correct, error):
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "correct.json"), "w") as f:
        json.dump({"correct": correct, "error": error}, f)
    with open(os.path.join(results_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def run_shinka_eval(
    program_path,
    results_dir,
    experiment_fn_name,
    num_runs=1,
    get_experiment_kwargs=None,
    aggregate_metrics_fn=None,
    validate_fn=None,
    default_metrics_on_error=None,
    **_ignored,
):
    results, times, errors = [], [], []
    correct = True
    folder, staged = _staged(program_path)
    try:
        for i in range(num_runs):
            kwargs = get_experiment_kwargs(i) if get_experiment_kwargs else {"seed": i + 1}
            started = time.perf_counter()
            value = evolve_eval.run_candidate(staged, experiment_fn_name, kwargs=kwargs, readable=(folder,))
            value = _result(value)
            times.append(time.perf_counter() - started)
            results.append(value)
            if validate_fn is not None:
                ok, message = validate_fn(value)
                if not ok:
                    correct = False
                    errors.append(message or f"run {i + 1} is not valid")
        metrics = dict(aggregate_metrics_fn(results)) if aggregate_metrics_fn else {"num_successful_runs": len(results)}
        metrics["execution_time_mean"] = statistics.fmean(times) if times else 0.0
        metrics["execution_time_std"] = statistics.pstdev(times) if times else 0.0
    except Exception as exc:  # the candidate crashed, timed out or returned garbage
        metrics = {"combined_score": 0.0, **(default_metrics_on_error or {})}
        correct = False
        errors.insert(0, f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    error = errors[0] if errors else None
    _write(results_dir, metrics, correct, error)
    return metrics, correct, error
