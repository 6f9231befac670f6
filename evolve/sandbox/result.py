"""Turn what came out of a sandbox into an EvalOutcome: validate, never trust."""

from __future__ import annotations

import json
import math

from evolve.kinds import PRIVATE_PREFIX, FailureKind
from evolve.sandbox.base import EvalOutcome

MAX_FEEDBACK = 4000
MAX_ITEM = 1500  # one artifact or text metric, within MAX_FEEDBACK
MAX_METRICS = 64
# Besides the result, the runner's line carries the captured logs (16 KB, JSON-escaped) and a
# traceback: the host reads at most this much more than max_result_kb before it gives up.
LINE_SLACK_BYTES = 256 * 1024


def result_line_bytes(max_result_kb: int) -> int:
    """The most a sandbox reads of the runner's result line."""
    return max_result_kb * 1024 + LINE_SLACK_BYTES


def too_large(max_result_kb: int, **values) -> EvalOutcome:
    """The candidate's failure for a result over the limit: the same reason whichever sandbox,
    and whether the runner measured it or the host stopped reading (the size, when known, is
    in the logs, so reasons group in the report)."""
    return EvalOutcome.failure(
        FailureKind.INVALID_RESULT,
        f"the result is larger than {max_result_kb} KB of JSON: "
        "return less from evaluate(), or raise [evaluation] max_result_kb in problem.toml",
        **values,
    )


def _number(value) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def interpret(
    raw: bytes,
    *,
    exit_code: int | None,
    timed_out: bool,
    duration: float,
    sandbox: str,
    memory_killed: bool = False,
    timeout: float = 0.0,
    max_result_kb: int = 1024,
    extra_logs: str = "",
) -> EvalOutcome:
    def failure(kind: FailureKind, detail: str, logs: str = extra_logs, feedback: str = "") -> EvalOutcome:
        return EvalOutcome.failure(
            kind, detail, logs=logs[-16000:], feedback=feedback, duration=duration, sandbox=sandbox
        )

    if timed_out:
        return failure(FailureKind.TIMEOUT, f"evaluation ran past {timeout:g} s and was killed")
    if memory_killed:
        return failure(FailureKind.MEMORY, "the evaluation exceeded its memory limit and was killed")
    line = raw.strip().splitlines()[-1] if raw.strip() else b""
    if not line:
        how = f"exit code {exit_code}" if exit_code is not None and exit_code >= 0 else f"signal {-(exit_code or 0)}"
        return failure(FailureKind.CRASH, f"the evaluation ended without a result ({how})")
    try:
        report = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return failure(FailureKind.INVALID_RESULT, "the sandbox output is not JSON")
    if not isinstance(report, dict):
        return failure(FailureKind.INVALID_RESULT, "the sandbox output is not an object")
    logs = str(report.get("logs", ""))
    if extra_logs:
        logs = extra_logs + logs
    if "result_too_large" in report:
        size = f"[evolve] evaluate() returned {str(report['result_too_large'])[:20]} bytes of JSON\n"
        return too_large(max_result_kb, logs=(size + logs)[-16000:], duration=duration, sandbox=sandbox)
    if "error" in report:
        # evaluate.py raised: its traceback goes with the logs (stored, and shown by `evolve check`).
        trace = report.get("traceback")
        if isinstance(trace, str) and trace:
            logs = f"{logs.rstrip()}\n{trace}" if logs.strip() else trace
        return failure(FailureKind.EVALUATOR_ERROR, str(report["error"]), logs=logs)
    return _scored(report, logs, failure, duration=duration, sandbox=sandbox)


def _missing_score(missing: dict) -> str:
    """Why there is no score, with the keys that did come back and the setting to use."""
    keys = ", ".join(repr(k) for k in missing.get("keys", [])[:20]) or "none"
    setting = missing.get("setting")
    if missing.get("not_number"):
        return f"the score {missing['not_number']!r} is not a number (the result's keys: {keys})"
    looked = repr(setting) if setting else "'score' or 'combined_score'"
    return (
        f"no numeric {looked} in the result (its keys: {keys}); "
        'name the score with [evaluation] score = "KEY" in problem.toml'
    )


def _feedback(result: dict, report: dict) -> str:
    """The text the next prompt shows: the evaluator's feedback, its non-numeric metrics and its
    named artifacts, each bounded, all within MAX_FEEDBACK."""
    feedback = result.get("feedback", "")
    parts = [feedback if isinstance(feedback, str) else json.dumps(feedback, default=str)]
    text: dict = report["text"] if isinstance(report.get("text"), dict) else {}
    parts += [f"{key}: {str(value)[:MAX_ITEM]}" for key, value in text.items()]
    artifacts: dict = report["artifacts"] if isinstance(report.get("artifacts"), dict) else {}
    parts += [f"## {key}\n{str(value)[:MAX_ITEM]}" for key, value in artifacts.items()]
    if report.get("cascade_kept"):
        parts.append(f"(evaluation stopped after stage {report['cascade_kept']!r}: below its threshold)")
    return "\n".join(part for part in parts if part)[:MAX_FEEDBACK]


def _private(report: dict, logs: str) -> tuple[dict[str, float], str]:
    """Private figures: numbers as metrics named private.NAME (never shown to the model,
    evolve.mutate.prompt drops them), texts into the stored logs."""
    private: dict = report["private"] if isinstance(report.get("private"), dict) else {}
    numbers: dict[str, float] = {}
    for key, value in private.items():
        number = _number(value)
        if number is not None and math.isfinite(number):
            numbers[f"{PRIVATE_PREFIX}{str(key)[:56]}"] = number
        else:
            logs += f"\n[private] {key}: {str(value)[:MAX_ITEM]}"
    return numbers, logs


def _scored(report: dict, logs: str, failure, *, duration: float, sandbox: str) -> EvalOutcome:
    result = report.get("result")
    if not isinstance(result, dict):
        returned = type(result).__name__
        return failure(
            FailureKind.INVALID_RESULT,
            f"evaluate() returned {returned}, not a dict (nor an object with metrics)",
            logs=logs,
        )
    feedback = _feedback(result, report)
    if isinstance(result.get("error"), str):
        return failure(FailureKind.CANDIDATE_REJECTED, result["error"][:500], logs=logs, feedback=feedback)
    if isinstance(report.get("missing_score"), dict):
        return failure(
            FailureKind.INVALID_RESULT, _missing_score(report["missing_score"]), logs=logs, feedback=feedback
        )
    raw_score = result.get("score")
    score = None if isinstance(raw_score, bool) else _number(raw_score)
    if score is None:
        return failure(FailureKind.INVALID_RESULT, "no numeric 'score' in the result", logs=logs, feedback=feedback)
    if not math.isfinite(score):
        return failure(FailureKind.INVALID_RESULT, f"score is not finite ({raw_score})", logs=logs, feedback=feedback)
    metrics: dict[str, float] = {}
    for key, value in result.items():
        if key in ("feedback", "error"):
            continue
        number = _number(value)
        if number is None:
            continue  # non-numeric values came as text (the feedback shows them)
        if not math.isfinite(number):
            return failure(
                FailureKind.INVALID_RESULT, f"metric {key!r} is not finite ({value})", logs=logs, feedback=feedback
            )
        if len(metrics) < MAX_METRICS or key == "score":
            metrics[str(key)[:64]] = number
    private, logs = _private(report, logs)
    metrics.update(private)
    stopped = report.get("cascade_stopped")
    if stopped is not None:  # scored, but stopped at an early stage: a failure that keeps its score
        return EvalOutcome.failure(
            FailureKind.CASCADE,
            f"stopped at stage {stopped!r} (score {score:g})",
            score=score,
            metrics=metrics,
            feedback=feedback,
            logs=logs[-16000:],
            duration=duration,
            sandbox=sandbox,
        )
    return EvalOutcome(
        ok=True, score=score, metrics=metrics, feedback=feedback, logs=logs[-16000:], duration=duration, sandbox=sandbox
    )
