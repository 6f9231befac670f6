"""Helpers for a problem's evaluate.py, importable inside every sandbox as `evolve_eval`.

`run_candidate` runs a function of the candidate program in a separate process and returns what
it returned, decoded from JSON. The candidate never shares the evaluator's process, so it cannot
patch the evaluator, read its state, or forge its result; all it can do is return a value, which
the evaluator then checks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["CandidateError", "run_candidate"]


class CandidateError(RuntimeError):
    """The candidate crashed, timed out, or returned something that is not plain data."""


_BOOTSTRAP = r"""
import importlib.util, json, os, sys
program, function, result_path, evaluators, confined, readable = sys.argv[1:7]
args, kwargs = json.load(sys.stdin)
if confined == "1":
    sys.path.insert(0, evaluators)
    from confine import confine
    # Writable: the sandbox's private temporary directory (a tmpfs in Docker), which holds
    # this call's working directory; nothing else.
    private = os.environ.get("TMPDIR") or ""
    workdir = os.path.dirname(result_path)
    writable = private if private and workdir.startswith(private.rstrip("/") + "/") else workdir
    why = confine(program, writable, [p for p in readable.split(os.pathsep) if p])
    sys.path.remove(evaluators)
    if why:
        sys.stderr.write(f"evolve_eval: candidate not confined: {why}\n")
spec = importlib.util.spec_from_file_location("candidate", program)
module = importlib.util.module_from_spec(spec)
sys.modules["candidate"] = module
spec.loader.exec_module(module)
value = getattr(module, function)(*args, **kwargs)

def plain(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot return a {type(obj).__name__}")

text = json.dumps(value, default=plain)
with open(result_path, "w") as f:
    f.write(text)
"""


def run_candidate(program_path, function="main", args=(), kwargs=None, timeout=None, confine=True, readable=()):
    """Call `function(*args, **kwargs)` of the program at `program_path` in a child process.

    Returns the decoded return value (numpy arrays come back as lists). Raises CandidateError
    with a one-line reason on a crash, a timeout or output that is not JSON.

    With `confine` (the default) the child is locked with Landlock before the candidate runs:
    it reads only the Python installation, system libraries and its own program file, writes only
    the sandbox's private temporary directory, and cannot open TCP connections (see confine.py).
    `readable` adds paths the candidate may read (say, model weights a problem image ships in
    /models); never list the problem folder, which holds the evaluator and its held-out data.
    """
    workdir = tempfile.mkdtemp(prefix="cand-")
    result_path = os.path.join(workdir, "result.json")
    payload = json.dumps([list(args), kwargs or {}])
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", _BOOTSTRAP, str(program_path), function, result_path,
         os.path.dirname(os.path.abspath(__file__)), "1" if confine else "0", os.pathsep.join(map(str, readable))],
        stdin=subprocess.PIPE, stdout=None, stderr=subprocess.PIPE,
        cwd=workdir, text=True,  # same process group: a host-side kill of the group reaches it
    )
    try:
        _, stderr = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CandidateError(f"candidate timed out after {timeout:g} s") from None
    finally:
        _kill_group(proc)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        last = (stderr or "").strip().splitlines()
        reason = last[-1] if last else f"exit code {proc.returncode}"
        if proc.returncode < 0:
            reason = f"killed by signal {-proc.returncode} ({reason})"
        raise CandidateError(f"candidate crashed: {reason[:500]}")
    if stderr:
        sys.stderr.write(stderr[-4000:])
    try:
        with open(result_path) as f:
            value = json.load(f)
    except FileNotFoundError:
        raise CandidateError("candidate exited without returning (os._exit or sys.exit?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CandidateError(f"candidate returned something that is not JSON: {exc}") from None
    run_candidate.last_seconds = elapsed
    return value


run_candidate.last_seconds = 0.0


def _descendants(pid):
    """All live descendants of pid, found through /proc (Linux)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill_group(proc):
    """Kill the candidate and everything it started (it shares our process group, so not killpg)."""
    if proc.poll() is not None:
        return  # already reaped: its pid may belong to someone else now
    for pid in [proc.pid, *_descendants(proc.pid)] if os.path.isdir("/proc") else [proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()
