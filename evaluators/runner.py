"""The program that runs inside a sandbox: load evaluate.py, score the candidate, report.

Usage: python -I runner.py PROBLEM_DIR CANDIDATE_PATH SPEC_JSON
   or: python -I runner.py PROBLEM_DIR --job-fd FD   (started ahead of the job: evaluate.py is
       imported first, then one JSON line {"candidate", "spec"} is read from FD)

SPEC_JSON: {"function": "evaluate", "cascade": [{"function": ..., "threshold": ...}], "max_result_bytes": N,
            "evaluator": "evaluate.py", "style": "path" | "results_dir" | "command", "score": KEY | null,
            "on_below": "fail" | "keep", "command": SCRIPT | null}
(evolve.sandbox.base.Contract: problem.toml's [evaluation] evaluator, call, score, on_below, command).
What the evaluator returned is made plain by evolve_results.py: the report carries "result" (the
numbers, score, feedback, error), "text", "private", "artifacts" and, when no score came back,
"missing_score"; "cascade_stopped" or "cascade_kept" names the stage a cascade stopped at.

A result whose JSON is larger than max_result_bytes is not sent: the line says only how large it
was ({"result_too_large": BYTES, "logs": ...}), so the host never reads megabytes to refuse them.

The result channel is this process's original stdout, kept on a private descriptor that no child
inherits; stdout and stderr of everything else (evaluate.py, the candidate) go to a bounded
capture that travels inside the result. So nothing the candidate prints can pose as a result.

`serve` is the same job for a process that is already running (runner_server.py forks one per
candidate from a process that imported evaluate.py once): it takes the result descriptor and,
when there is one, the evaluator module imported before.
"""

from __future__ import annotations

import _thread
import fcntl
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script with -I (-P)

import evolve_results as results

LOG_HEAD = 8_000
LOG_TAIL = 8_000
DEFAULT_MAX_RESULT_BYTES = 1024 * 1024  # a host that does not say (evolve's default, max_result_kb)


class _BoundedCapture:
    """Drains a pipe forever, keeping the first and last few KB (a candidate may print GBs).

    A bare thread (`_thread`): threading.Thread.start waits until the new thread runs, which on a
    busy machine costs milliseconds of every evaluation; nothing here needs that."""

    def __init__(self, fd: int):
        self.fd, self.head, self.tail, self.total = fd, bytearray(), bytearray(), 0
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _thread.start_new_thread(self._run, ())

    def _run(self):
        try:
            self._drain()
        finally:
            self._done.release()

    def join(self, timeout: float) -> None:
        if self._done.acquire(timeout=timeout):
            self._done.release()

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


def _returned(report: dict):
    """What evaluate() returned, as the bound measures it: the numbers and the text, private
    figures and artifacts that evolve_results split it into, together again."""
    result = report["result"]
    if not isinstance(result, dict):
        return result
    whole = dict(result)
    for part in ("text", "private", "artifacts"):
        whole.update(report.get(part) or {})
    return whole


def _line(report: dict, logs: str, max_result_bytes: int) -> str:
    """The result line: the report with the logs, or only the result's size when it is too large."""
    if "result" in report:
        size = len(json.dumps(_returned(report), default=_plain, allow_nan=True).encode())
        if size > max_result_bytes:
            report = {"result_too_large": size}
    return json.dumps({**report, "logs": logs}, default=_plain, allow_nan=True)


def capture_output(prefix: str = "") -> _BoundedCapture:
    """Point fds 1 and 2 (and sys.stdout, sys.stderr) at a bounded capture."""
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    capture = _BoundedCapture(read_end)
    if prefix:
        capture.head += prefix.encode()[:LOG_HEAD]
        capture.total += len(capture.head)
    return capture


def end_capture(capture: _BoundedCapture) -> str:
    """Close fds 1 and 2 and return what was captured."""
    for close in (sys.stdout.flush, sys.stderr.flush, lambda: os.close(1), lambda: os.close(2)):
        try:  # evaluate.py (or a library) may have closed them already
            close()
        except (OSError, ValueError):
            pass
    capture.join(timeout=1.0)
    return capture.text()


def add_paths(problem_dir: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, problem_dir]


def evaluator_name(problem_dir: str, spec: dict | None = None) -> str:
    """The evaluator file: the job's spec says (problem.toml's `evaluator`); before the job
    comes (a warm runner), evaluate.py, or else evaluator.py (OpenEvolve, SkyDiscover)."""
    if spec and spec.get("evaluator"):
        return spec["evaluator"]
    for name in ("evaluate.py", "evaluator.py"):
        if os.path.isfile(os.path.join(problem_dir, name)):
            return name
    return "evaluate.py"


def load_evaluator(problem_dir: str, name: str | None = None):
    path = os.path.join(problem_dir, name or evaluator_name(problem_dir))
    module_spec = importlib.util.spec_from_file_location("problem_evaluate", path)
    module = importlib.util.module_from_spec(module_spec)
    # Registered before it runs, as an import would: dataclasses (with postponed annotations) and
    # pickle look a class's module up in sys.modules.
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    return module


def _failure(exc: BaseException, evaluator: str = "evaluate.py") -> dict:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Name the line of the evaluator that raised (the innermost frame in it), so a user can go to it.
    base = os.path.basename(evaluator)
    where = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.basename(f.filename) == base]
    at = f"{base} line {where[-1].lineno}: " if where else ""
    return {"error": f"{at}{type(exc).__name__}: {exc}"[:1000], "traceback": "".join(tb)[-4000:]}


def _call(module, function: str, candidate: str, spec: dict, problem_dir: str):
    """One stage's raw result, in the evaluator's calling style (see results.py)."""
    style = spec.get("style", "function")
    if style == "command":
        # The MODE is the function's name: problem.toml's function (train), heldout_function (test).
        return run_command(os.path.join(problem_dir, spec["command"]), function, candidate)
    fn = getattr(module, function, None)
    if fn is None:
        raise LookupError(f"{spec.get('evaluator', 'evaluate.py')} has no function {function!r}")
    if style == "results_dir":  # ShinkaEvolve: main(program_path, results_dir)
        results_dir = tempfile.mkdtemp(prefix="results-")
        try:
            return results.read_results_dir(results_dir, results.settle(fn(candidate, results_dir)))
        finally:
            shutil.rmtree(results_dir, ignore_errors=True)
    return results.settle(fn(candidate))


def run_command(script: str, mode: str, candidate: str) -> object:
    """SkyDiscover's containerized evaluator: `evaluate.sh PROGRAM MODE` prints one JSON object.

    The script names its own image's WORKDIR (its Dockerfile's, say /benchmark); here the same
    files are the script's folder, so that path is read as the folder."""
    folder = os.path.dirname(script)
    with open(script) as f:
        text = f.read()
    workdir = _dockerfile_workdir(os.path.join(folder, "Dockerfile"))
    if workdir and workdir != folder:
        text = text.replace(workdir.rstrip("/") + "/", folder + "/")
    done = subprocess.run(
        ["bash", "-c", text, script, candidate, mode],
        cwd=folder,
        # `python` in the script is this Python (a sandbox's environment may have no PATH).
        env={
            **os.environ,
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "/usr/bin:/bin")]),
        },
        stdout=subprocess.PIPE,
        check=False,
    )
    lines = [line for line in done.stdout.decode(errors="replace").splitlines() if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"{os.path.basename(script)} printed no JSON object (exit code {done.returncode})")
    return json.loads(lines[-1])


def _dockerfile_workdir(path: str) -> str | None:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    found = [line.split(None, 1)[1].strip() for line in lines if line.upper().startswith("WORKDIR ")]
    return found[-1] if found else None


def _merge(earlier: dict | None, plain: dict) -> dict:
    """A later stage's figures over an earlier one's (OpenEvolve merges its stages' metrics)."""
    if earlier is None or "missing_score" in plain:
        return plain
    merged = dict(plain)
    for key in ("result", "text", "private", "artifacts"):
        merged[key] = {**earlier.get(key, {}), **plain.get(key, {})}
    merged["result"].pop("error", None) if "error" not in plain["result"] else None
    return merged


def score_candidate(problem_dir: str, candidate: str, spec: dict, module=None) -> dict:
    """The report: every stage of the cascade, then the main function (import the evaluator unless given).

    Below a stage's threshold, `on_below` "fail" stops with a cascade failure that keeps the
    stage's score; "keep" stops with that stage's result as the program's (OpenEvolve's way)."""
    report: dict = {}
    name = evaluator_name(problem_dir, spec)
    keep = spec.get("on_below", "fail") == "keep"
    try:
        if spec.get("style") != "command" and (module is None or _module_file(module) != name):
            module = load_evaluator(problem_dir, name)
        stages = [*spec.get("cascade", []), {"function": spec.get("function", "evaluate"), "threshold": None}]
        earlier = None
        for stage in stages:
            raw = _call(module, stage["function"], candidate, spec, problem_dir)
            plain = results.plain(raw, spec.get("score"))
            if keep:
                plain = _merge(earlier, plain)
            report = {**plain, "stage": stage["function"]}
            if "missing_score" in plain or "error" in plain.get("result", {}) or "text" not in plain:
                break
            score = _score_of(plain["result"])
            if stage["threshold"] is not None and (
                score is None or not math.isfinite(score) or score < stage["threshold"]
            ):
                report["cascade_kept" if keep else "cascade_stopped"] = stage["function"]
                break
            earlier = plain
    except BaseException as exc:  # the evaluator itself failed: report, do not crash silently
        report = _failure(exc, name)
    return report


def _module_file(module) -> str:
    return os.path.basename(getattr(module, "__file__", "") or "")


def send(result_fd: int, report: dict, logs: str, spec: dict) -> None:
    """Write the one result line on the private descriptor, and exit."""
    try:
        text = _line(report, logs, int(spec.get("max_result_bytes", DEFAULT_MAX_RESULT_BYTES)))
    except (TypeError, ValueError) as exc:
        text = json.dumps({"error": f"evaluate() returned something that is not JSON: {exc}", "logs": logs})
    with os.fdopen(result_fd, "wb") as channel:
        channel.write((text + "\n").encode())
    os._exit(0)


def serve(problem_dir: str, candidate: str, spec: dict, result_fd: int, module=None, logs_before: str = "") -> None:
    """Score one candidate in this (already running) process and write the result on `result_fd`;
    never returns. `module` is evaluate.py imported earlier (None: import it now)."""
    os.set_inheritable(result_fd, False)
    capture = capture_output(logs_before)
    _undumpable()
    report = score_candidate(problem_dir, candidate, spec, module)
    send(result_fd, report, end_capture(capture), spec)


def _wait_for_job(problem_dir: str, job_fd: int) -> None:
    """Started before the job: import evaluate.py, then read the job and score it."""
    # Out of the way, so the result channel gets the descriptor it has when the runner starts
    # with its job (3, the lowest free one), whichever way it was started.
    moved = fcntl.fcntl(job_fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(job_fd)
    job_fd = moved
    result_fd = os.dup(1)  # non-inheritable by default
    capture = capture_output()
    _undumpable()
    add_paths(problem_dir)
    module, early = None, None
    try:
        module = load_evaluator(problem_dir)
    except BaseException as exc:
        early = _failure(exc, evaluator_name(problem_dir))
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(job_fd, 1 << 16)
        if not chunk:
            os._exit(4)  # no job came: nothing of a candidate ran
        data += chunk
    os.close(job_fd)
    job = json.loads(data)
    candidate, spec = job["candidate"], json.loads(job["spec"])
    sys.argv[1:] = [problem_dir, candidate, job["spec"]]
    if early is not None and (
        spec.get("style") == "command" or evaluator_name(problem_dir, spec) != evaluator_name(problem_dir)
    ):
        early = None  # the job names another evaluator than the one imported ahead of it
    report = early if early is not None else score_candidate(problem_dir, candidate, spec, module)
    send(result_fd, report, end_capture(capture), spec)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[2] == "--job-fd":
        _wait_for_job(sys.argv[1], int(sys.argv[3]))
    problem_dir, candidate, spec_json = sys.argv[1], sys.argv[2], sys.argv[3]
    spec = json.loads(spec_json)
    result_fd = os.dup(1)  # non-inheritable by default
    capture = capture_output()
    _undumpable()
    add_paths(problem_dir)
    report = score_candidate(problem_dir, candidate, spec)
    send(result_fd, report, end_capture(capture), spec)


if __name__ == "__main__":
    main()
