"""Helpers for a problem's evaluate.py, importable inside every sandbox as `evolve_eval`.

`run_candidate` runs a function of the candidate program in a separate process and returns what
it returned, decoded from JSON. The candidate never shares the evaluator's process, so it cannot
patch the evaluator, read its state, or forge its result; all it can do is return a value, which
the evaluator then checks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["CandidateError", "run_candidate"]


class CandidateError(RuntimeError):
    """The candidate crashed, timed out, or returned something that is not plain data."""


# The candidate's process runs this file (a file, not a string: readable, linted, tested).
_CANDIDATE_BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "candidate_bootstrap.py")


def run_candidate(program_path, function="main", args=(), kwargs=None, timeout=None, confine=True, readable=()):
    """Call `function(*args, **kwargs)` of the program at `program_path` in a child process.

    Returns the decoded return value (numpy arrays come back as lists). Raises CandidateError
    with a one-line reason on a crash, a timeout or output that is not JSON.

    With `confine` (the default) the child is locked with Landlock before the candidate runs:
    it reads only the Python installation, system libraries and its own program file, writes only
    a working directory of its own (fresh for each call, deleted after it), and cannot open TCP
    connections (see confine.py). `readable` adds paths the candidate may read (say, model weights
    a problem image ships in /models); never list the problem folder, which holds the evaluator
    and its held-out data. Whatever the candidate started is killed when the call returns.
    """
    _become_subreaper()  # orphans of the candidate come back to us, so none outlives the call
    workdir = tempfile.mkdtemp(prefix="cand-")
    result_path = os.path.join(workdir, "result.json")
    payload = json.dumps([list(args), kwargs or {}]).encode()
    before = set(_children(os.getpid())) if os.path.isdir("/proc") else set()
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-I",
            _CANDIDATE_BOOTSTRAP,
            str(program_path),
            function,
            result_path,
            "1" if confine else "0",
            os.pathsep.join(map(str, readable)),
            str(os.getpid()),  # it dies with us (PR_SET_PDEATHSIG), even if we are SIGKILLed
        ],
        stdin=subprocess.PIPE,
        stdout=None,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env={**os.environ, "TMPDIR": workdir, "HOME": workdir},
        start_new_session=True,
    )
    stderr = _TailReader(proc.stderr)
    timed_out = False
    try:
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_all_started(proc, before)
        stderr.join()
    try:
        return _read_result(proc, result_path, stderr.text(), timed_out, timeout, time.monotonic() - started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _read_result(proc, result_path, stderr, timed_out, timeout, elapsed):
    if timed_out:
        raise CandidateError(f"candidate timed out after {timeout:g} s")
    if proc.returncode != 0:
        last = stderr.strip().splitlines()
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
    except RecursionError:
        raise CandidateError("candidate returned something nested too deeply to decode") from None
    run_candidate.last_seconds = elapsed
    return value


class _TailReader:
    """Reads a pipe to its end in a thread, keeping only the last bytes (a candidate may write
    gigabytes, or bytes that are not UTF-8)."""

    LIMIT = 16_000

    def __init__(self, pipe):
        self.pipe, self.tail = pipe, b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            self.tail = (self.tail + chunk)[-self.LIMIT :]

    def join(self):
        self.thread.join(timeout=5)

    def text(self):
        return self.tail.decode("utf-8", errors="replace")


run_candidate.last_seconds = 0.0


def _become_subreaper():
    try:
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _children(pid):
    """The live children of `pid` (Linux /proc/PID/task/TID/children, else a scan of /proc)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(child) for child in f.read().split()]
        except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
            return _children_from(_parents(), pid)
        except OSError:
            continue
    return found


def _parents():
    """pid -> parent pid for every process we can see (Linux /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return parents


def _tree(roots):
    found, stack = [], list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(_children(pid))
    return found


def _kill_all_started(proc, before):
    """Kill the candidate's group, and every process it left: with us as subreaper, processes
    it orphaned (even in a session of their own) are now our children."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if os.path.isdir("/proc"):
        for _ in range(3):  # a dying process may orphan more children meanwhile
            new = [pid for pid in _children(os.getpid()) if pid not in before]
            if not new:
                break
            for pid in _tree(new):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            for pid in new:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
    proc.wait()


def _children_from(parents, pid):
    return [child for child, parent in parents.items() if parent == pid]
