"""The local process sandbox: for machines without a Docker engine. It limits, it does not isolate.

The runner and evaluate.py run in their own process group under resource limits (address space,
processes, file size, CPU time), in a private temporary directory, with an environment stripped of
secrets, and as `nobody` when we are root and `nobody` can reach the interpreter. They share the
host's filesystem and network; the candidate itself, started by `run_candidate`, is confined with
Landlock (evaluators/confine.py). Use the Docker sandbox for untrusted code.
"""

from __future__ import annotations

import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from enum import StrEnum
from pathlib import Path

from evolve.errors import InfrastructureError
from evolve.resources import runner_path
from evolve.sandbox.base import EvalOutcome, EvalRequest
from evolve.sandbox.environment import clean_environment
from evolve.sandbox.result import interpret, result_line_bytes, too_large

NOBODY = 65534
FILE_SIZE_LIMIT = 256 * 1024 * 1024

_warned = False


class ProcessSandbox:
    name = "process"

    def __init__(self, python: str | None = None, warn: bool = True):
        self.python = python or sys.executable
        global _warned
        if warn and not _warned:
            _warned = True
            warnings.warn(
                "the process sandbox does not isolate: evaluate.py shares the host's filesystem and "
                "network, and candidates only get Landlock's confinement; use the Docker sandbox for "
                "untrusted code",
                stacklevel=2,
            )

    def _limits(self, request: EvalRequest, drop_to_nobody: bool):
        limits = request.limits
        memory = limits.memory_mb * 1024 * 1024
        cpu_seconds = int(limits.timeout * max(1.0, limits.cpus)) + 5
        pids = limits.pids_limit

        def apply() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if drop_to_nobody:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            # RLIMIT_NPROC counts every process of the user; it is enforced for non-root only.
            resource.setrlimit(resource.RLIMIT_NPROC, (pids, pids))

        return apply

    def evaluate(self, request: EvalRequest) -> EvalOutcome:
        """The candidate's outcome; InfrastructureError when this machine cannot run it at all."""
        limits = request.limits
        drop = os.geteuid() == 0 and _reachable_by_others(self.python) and _reachable_by_others(request.problem_dir)
        try:
            tmpdir = tempfile.mkdtemp(prefix="evolve-sbx-")
        except OSError as exc:
            raise InfrastructureError(
                f"cannot make a temporary folder for the evaluation ({exc}): "
                f"free space or fix permissions in {tempfile.gettempdir()}"
            ) from exc
        try:
            candidate = Path(tmpdir) / request.filename
            try:
                candidate.write_text(request.code)
                if drop:
                    os.chown(tmpdir, NOBODY, NOBODY)
                    os.chown(candidate, NOBODY, NOBODY)
                os.chmod(candidate, 0o444)
            except OSError as exc:
                raise InfrastructureError(
                    f"cannot write the candidate to {candidate} ({exc}): free space in {tempfile.gettempdir()}"
                ) from exc
            started = time.monotonic()
            try:
                proc = subprocess.Popen(
                    [self.python, "-I", str(runner_path()), request.problem_dir, str(candidate), request.spec_json()],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    cwd=tmpdir,
                    env=clean_environment(tmpdir, limits.cpus),
                    start_new_session=True,
                    preexec_fn=self._limits(request, drop),
                )
            except (OSError, subprocess.SubprocessError) as exc:  # before any code of the candidate ran
                raise InfrastructureError(
                    f"cannot start the evaluation's interpreter {self.python} ({exc}): "
                    f"check that it exists and runs, or pass another python"
                ) from exc
            try:
                raw, ended = _read_bounded(proc, started + limits.timeout, result_line_bytes(limits.max_result_kb))
            finally:
                # Everything goes, whatever the candidate left running: the runner is a subreaper,
                # so while it lives every process the candidate started is below it, even one
                # that left for a session of its own.
                for pid in [*_descendants(proc.pid), proc.pid]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
            duration = time.monotonic() - started
            if ended is Ended.OVERFLOW:
                return too_large(limits.max_result_kb, duration=duration, sandbox=self.name)
            return interpret(
                raw,
                exit_code=proc.returncode,
                timed_out=ended is Ended.TIMEOUT,
                duration=duration,
                sandbox=self.name,
                timeout=limits.timeout,
                max_result_kb=limits.max_result_kb,
                memory_killed=_looks_like_memory_error(raw),
            )
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def close(self) -> None:
        pass


class Ended(StrEnum):
    """How reading the runner's stdout ended."""

    EOF = "eof"
    TIMEOUT = "timeout"
    OVERFLOW = "overflow"  # more than the result line may hold: stop reading, refuse it


def _read_bounded(proc: subprocess.Popen, deadline: float, limit: int) -> tuple[bytes, Ended]:
    """The runner's stdout until it closes, the deadline passes or `limit` bytes came."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return bytes(data), Ended.TIMEOUT
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                try:  # the runner closes its channel just before it exits: keep its exit code
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                return bytes(data), Ended.EOF
            data += chunk
            if len(data) > limit:
                return b"", Ended.OVERFLOW


def _descendants(pid: int) -> list[int]:
    """Every live process below pid (Linux /proc), deepest last."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found.extend(children)
        stack.extend(children)
    return found


def _reachable_by_others(path: str) -> bool:
    """Whether `nobody` could use this path: every parent directory must be world-searchable."""
    current = Path(path).resolve()
    return all(os.stat(part).st_mode & 0o001 for part in [current, *current.parents] if part.is_dir())


def _looks_like_memory_error(raw: bytes) -> bool:
    # Under RLIMIT_AS an allocation fails with MemoryError instead of an OOM kill.
    return b'"error": "MemoryError' in raw
