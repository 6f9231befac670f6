"""The program that runs inside a sandbox: load evaluate.py, score the candidate, report.

Usage: python -I runner.py PROBLEM_DIR CANDIDATE_PATH SPEC_JSON

SPEC_JSON: {"function": "evaluate", "cascade": [{"function": ..., "threshold": ...}], "max_result_bytes": N}

A result whose JSON is larger than max_result_bytes is not sent: the line says only how large it
was ({"result_too_large": BYTES, "logs": ...}), so the host never reads megabytes to refuse them.

The result channel is this process's original stdout, kept on a private descriptor that no child
inherits; stdout and stderr of everything else (evaluate.py, the candidate) go to a bounded
capture that travels inside the result. So nothing the candidate prints can pose as a result.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import threading
import traceback

LOG_HEAD = 8_000
LOG_TAIL = 8_000
DEFAULT_MAX_RESULT_BYTES = 1024 * 1024  # a host that does not say (evolve's default, max_result_kb)


class _BoundedCapture:
    """Drains a pipe forever, keeping the first and last few KB (a candidate may print GBs)."""

    def __init__(self, fd: int):
        self.fd, self.head, self.tail, self.total = fd, bytearray(), bytearray(), 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.total += len(chunk)
            room = LOG_HEAD - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail = (self.tail + chunk)[-LOG_TAIL:]

    def text(self) -> str:
        out = self.head.decode(errors="replace")
        if self.tail:
            skipped = self.total - len(self.head) - len(self.tail)
            if skipped > 0:
                out += f"\n[... {skipped} bytes of output skipped ...]\n"
            out += self.tail.decode(errors="replace")
        return out


def _undumpable():
    # Same-uid processes (the candidate) may not open /proc/<us>/fd/* or read our memory.
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


def _plain(obj):
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except (ValueError, TypeError):
            pass
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _score_of(result) -> float | None:
    if not isinstance(result, dict):
        return None
    score = result.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        return None
    return float(score)


def _line(report: dict, logs: str, max_result_bytes: int) -> str:
    """The result line: the report with the logs, or only the result's size when it is too large."""
    if "result" in report:
        size = len(json.dumps(report["result"], default=_plain, allow_nan=True).encode())
        if size > max_result_bytes:
            report = {"result_too_large": size}
    return json.dumps({**report, "logs": logs}, default=_plain, allow_nan=True)


def main() -> None:
    problem_dir, candidate, spec_json = sys.argv[1], sys.argv[2], sys.argv[3]
    spec = json.loads(spec_json)

    result_fd = os.dup(1)  # non-inheritable by default
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    capture = _BoundedCapture(read_end)
    _undumpable()

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, problem_dir]
    report: dict = {}
    try:
        path = os.path.join(problem_dir, "evaluate.py")
        module_spec = importlib.util.spec_from_file_location("problem_evaluate", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        stages = [*spec.get("cascade", []), {"function": spec.get("function", "evaluate"), "threshold": None}]
        for stage in stages:
            fn = getattr(module, stage["function"], None)
            if fn is None:
                report = {"error": f"evaluate.py has no function {stage['function']!r}"}
                break
            result = fn(candidate)
            report = {"result": result, "stage": stage["function"]}
            score = _score_of(result)
            if stage["threshold"] is not None and (
                score is None or not math.isfinite(score) or score < stage["threshold"]
            ):
                report["cascade_stopped"] = stage["function"]
                break
    except BaseException as exc:  # the evaluator itself failed: report, do not crash silently
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        # Name the line of evaluate.py that raised (the innermost frame in it), so a user can go to it.
        where = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.basename(f.filename) == "evaluate.py"]
        at = f"evaluate.py line {where[-1].lineno}: " if where else ""
        report = {"error": f"{at}{type(exc).__name__}: {exc}"[:1000], "traceback": "".join(tb)[-4000:]}

    for close in (sys.stdout.flush, sys.stderr.flush, lambda: os.close(1), lambda: os.close(2)):
        try:  # evaluate.py (or a library) may have closed them already
            close()
        except (OSError, ValueError):
            pass
    capture.thread.join(timeout=1.0)
    logs = capture.text()
    try:
        text = _line(report, logs, int(spec.get("max_result_bytes", DEFAULT_MAX_RESULT_BYTES)))
    except (TypeError, ValueError) as exc:
        text = json.dumps({"error": f"evaluate() returned something that is not JSON: {exc}", "logs": logs})
    with os.fdopen(result_fd, "wb") as channel:
        channel.write((text + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    main()
