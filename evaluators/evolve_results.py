"""What an evaluator returned, made plain: one shape for every evaluator contract evolve reads.

Runs inside the sandbox (standard library only). An evaluator may return
- a dict (evolve's own contract, an OpenEvolve or SkyDiscover metrics dict, a TypedDict);
- an object with `metrics` (and `artifacts`), such as OpenEvolve's EvaluationResult, or a dict
  with those two keys (SkyDiscover's container protocol);
- a dataclass instance (its fields are the metrics);
- a coroutine (`async def evaluate`): it is run to completion first.
A ShinkaEvolve `main(program_path, results_dir)` writes metrics.json / correct.json instead;
`read_results_dir` turns those into the same dict.

The plain result is a dict with
  result:    the public figures: numbers, plus "score", "feedback" and "error" when present
  text:      public values that are not numbers (kept as text, shown to the model)
  private:   figures stored and reported, never shown to the model (ShinkaEvolve's "private")
  artifacts: named texts for the next prompt (OpenEvolve's artifacts)
  missing_score: the keys that came back, when none of them is the score
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import os

SCORE_KEYS = ("score", "combined_score")  # tried in this order when problem.toml names none
_RESERVED = ("feedback", "error")


def settle(value):
    """Run an `async def` evaluator's coroutine; anything else is returned as it is."""
    if inspect.isawaitable(value):
        return asyncio.run(_awaited(value))
    return value


async def _awaited(value):
    return await value


def _as_dict(value) -> tuple[dict | None, dict]:
    """(metrics, artifacts) of any result shape; metrics None when it has none."""
    metrics = getattr(value, "metrics", None) if not isinstance(value, dict) else None
    if metrics is not None and hasattr(metrics, "items"):
        return dict(metrics), dict(getattr(value, "artifacts", None) or {})
    if isinstance(value, dict):
        if isinstance(value.get("metrics"), dict) and ("artifacts" in value or "status" in value):
            return {**value["metrics"], **_top_level_score(value)}, dict(value.get("artifacts") or {})
        return dict(value), {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, {}
    return None, {}


def _top_level_score(value: dict) -> dict:
    # SkyDiscover's container JSON repeats combined_score beside "metrics".
    return {k: value[k] for k in SCORE_KEYS if k in value and k not in value["metrics"]}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) or (hasattr(value, "item") and hasattr(value, "dtype"))


def _number(value):
    if hasattr(value, "item") and hasattr(value, "dtype"):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return None
    if isinstance(value, bool):
        return float(value)
    return value if isinstance(value, (int, float)) else None


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def _pick_score(metrics: dict, score_key: str | None):
    keys = (score_key,) if score_key else SCORE_KEYS
    for key in keys:
        if key in metrics:
            return key
    return None


def plain(value, score_key: str | None = None) -> dict:
    """The plain result of whatever an evaluator returned (see the module's docstring)."""
    metrics, artifacts = _as_dict(value)
    if metrics is None:
        return {"result": value}  # not a result shape: the host names what came back
    private = metrics.pop("private", None)
    private = dict(private) if isinstance(private, dict) else {}
    public = metrics.pop("public", None)
    if isinstance(public, dict):  # ShinkaEvolve nests its public figures
        metrics = {**public, **metrics}
    result: dict = {}
    text: dict = {}
    for key, item in metrics.items():
        key = str(key)
        if key in _RESERVED and isinstance(item, str):
            result[key] = item
        elif _is_number(item) and _number(item) is not None:
            result[key] = _number(item)
        else:
            text[key] = _text(item)
    found = _pick_score(result, score_key)
    out = {
        "result": result,
        "text": text,
        "private": {str(k): (_number(v) if _number(v) is not None else _text(v)) for k, v in private.items()},
        "artifacts": {str(k): _text(v) for k, v in artifacts.items()},
    }
    if found is None:
        out["missing_score"] = {
            "keys": sorted([*result, *text]),
            "setting": score_key,
            "not_number": _pick_score(text, score_key),
        }
    elif found != "score":
        result["score"] = result[found]
    return out


def read_results_dir(results_dir: str, returned=None) -> dict:
    """ShinkaEvolve's contract: main() wrote metrics.json and correct.json into `results_dir`
    (correct: false with an error is the candidate's rejection). When main() wrote nothing but
    returned metrics, those are used."""
    metrics_path = os.path.join(results_dir, "metrics.json")
    correct_path = os.path.join(results_dir, "correct.json")
    metrics: dict = {}
    if os.path.isfile(metrics_path):
        with open(metrics_path) as f:
            metrics = json.load(f)
    elif isinstance(returned, tuple) and returned and isinstance(returned[0], dict):
        metrics = returned[0]  # run_shinka_eval's (metrics, correct, error)
    elif isinstance(returned, dict):
        metrics = returned
    if not isinstance(metrics, dict):
        return {"result": metrics}
    metrics = dict(metrics)
    feedback = metrics.pop("text_feedback", None)
    if feedback and not metrics.get("feedback"):
        metrics["feedback"] = _text(feedback)
    if os.path.isfile(correct_path):
        with open(correct_path) as f:
            correct = json.load(f)
        if isinstance(correct, dict) and correct.get("correct") is False:
            metrics["error"] = str(correct.get("error") or "the program is not correct (correct.json)")
    return metrics
