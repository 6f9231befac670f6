"""The local process sandbox: for machines without a Docker engine. It limits, it does not isolate.

The runner and evaluate.py run in their own session under resource limits (address space,
processes, file size, CPU time), in a private temporary directory, with an environment stripped of
secrets, and as `nobody` when we are root and `nobody` can reach the interpreter. They share the
host's filesystem and network; the candidate itself, started by `run_candidate`, is confined with
Landlock (evaluators/confine.py). Use the Docker sandbox for untrusted code.

Each candidate's runner is a fresh process, forked by a warm runner (evaluators/runner_server.py)
that this sandbox starts once per problem and set of limits and that has imported evaluate.py:
a candidate costs a fork instead of an interpreter start and an import. The server gives each
runner every limit a runner started from here had (see its docstring); `warm=False` makes each
runner a new interpreter instead (exec'd by the server), as before the server existed.

Whatever happens to this process, nothing of an evaluation outlives it for long: the server sees
its control socket end and kills the running job's processes and removes its folder; each runner
dies with the server (PR_SET_PDEATHSIG), each candidate with its runner. Temporary folders carry
their owner's pid and start time (`evolve-sbx-PID-START-...`), and a new sandbox removes those of
owners that are gone, killing whatever still runs inside them.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from evolve.errors import InfrastructureError
from evolve.resources import evaluators_dir, runner_path  # noqa: F401  (runner_path: used by tests, benches)
from evolve.sandbox.base import EvalOutcome, EvalRequest, SandboxKind
from evolve.sandbox.environment import clean_environment
from evolve.sandbox.pipes import Ended, read_bounded
from evolve.sandbox.private_folders import (
    NOBODY,
    candidate_folder,
    listing_digest,
    make_private_folder,
    reachable_by_others,
    reap_stale_folders,
)
from evolve.sandbox.result import interpret, result_line_bytes, too_large

FILE_SIZE_LIMIT = 256 * 1024 * 1024
MAX_IDLE_SERVERS = 4  # per key: as many as evaluations ran at once, up to this
MAX_KEYS = 4  # problems (or sets of limits) whose servers are kept, least recently used first out

_warned = False


class ProcessSandbox:
    name: str = SandboxKind.PROCESS

    def __init__(self, python: str | None = None, warn: bool = True, warm: bool = True, reap: bool = True):
        self.python = python or sys.executable
        self.warm = warm
        self._lock = threading.Lock()
        self._idle: collections.OrderedDict[ServerKey, list[_Server]] = collections.OrderedDict()
        self._closed = False
        global _warned
        if warn and not _warned:
            _warned = True
            warnings.warn(
                "the process sandbox does not isolate: evaluate.py shares the host's filesystem and "
                "network, and candidates only get Landlock's confinement; use the Docker sandbox for "
                "untrusted code",
                stacklevel=2,
            )
        if reap:
            reap_stale_folders()

    # -- servers ---------------------------------------------------------------------------------

    def _take_server(self, key: ServerKey, deadline: float) -> _Server:
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                server = idle.pop()
                if server.alive():
                    return server
                server.close()
        return _Server.start(key, deadline)

    def _give_back(self, key: ServerKey, server: _Server) -> None:
        to_close: list[_Server] = [server]
        with self._lock:
            if not self._closed and server.alive():
                for other in [k for k in self._idle if k.problem_dir == key.problem_dir and k != key]:
                    to_close += self._idle.pop(other)  # the folder changed: those import a stale evaluate.py
                idle = self._idle.setdefault(key, [])
                self._idle.move_to_end(key)
                if len(idle) < MAX_IDLE_SERVERS:
                    idle.append(server)
                    to_close.remove(server)
                while len(self._idle) > MAX_KEYS:
                    to_close += self._idle.popitem(last=False)[1]
        for old in to_close:
            old.close()

    # -- evaluation ------------------------------------------------------------------------------

    def evaluate(self, request: EvalRequest) -> EvalOutcome:
        """The candidate's outcome; InfrastructureError when this machine cannot run it at all.
        (After close() it still works, without keeping a server between evaluations.)"""
        limits = request.limits
        drop = os.geteuid() == 0 and reachable_by_others(self.python) and reachable_by_others(request.problem_dir)
        started = time.monotonic()
        deadline = started + limits.timeout
        key = ServerKey.of(self.python, request, drop, self.warm)
        for attempt in range(2):
            try:
                server = self._take_server(key, deadline)
            except _NotReady:
                return _timed_out(limits.timeout, time.monotonic() - started)
            except _StartFailed as exc:  # as a runner that could not start was before: a crash
                return interpret(
                    b"", exit_code=exc.code, timed_out=False, duration=time.monotonic() - started, sandbox=self.name
                )
            fresh = server.jobs == 0
            # The folder is made once a server is at hand, just before the job goes to it: from then
            # on the server removes it, even if this process dies.
            try:
                tmpdir = candidate_folder(request, drop)
            except InfrastructureError:
                self._give_back(key, server)
                raise
            job = {
                "dir": tmpdir,
                "candidate": os.path.join(tmpdir, request.filename),
                "spec": request.spec_json(),
                "env": clean_environment(tmpdir, limits.cpus),
                "limits": _rlimits(request),
                "fresh": not self.warm,
            }
            ran: _Ran | None = None
            try:
                ran = server.run(job, deadline, result_line_bytes(limits.max_result_kb))
            except _ServerGone:
                # Nothing of the candidate ran; an idle server someone killed gets one successor.
                if attempt == 1 or fresh:
                    raise InfrastructureError(
                        "the process sandbox's runner server exited before it started the evaluation: "
                        "check free memory and the process limit (ulimit -u)"
                    ) from None
                continue
            finally:
                if ran is None or not ran.folder_removed:
                    shutil.rmtree(tmpdir, ignore_errors=True)
            break
        duration = time.monotonic() - started
        assert ran is not None  # the loop ends with a result, or raises
        if server.alive():
            self._give_back(key, server)
        else:
            server.close()
        if ran.ended is Ended.OVERFLOW:
            return too_large(limits.max_result_kb, duration=duration, sandbox=self.name)
        return interpret(
            ran.raw,
            exit_code=ran.exit_code,
            timed_out=ran.ended is Ended.TIMEOUT,
            duration=duration,
            sandbox=self.name,
            timeout=limits.timeout,
            max_result_kb=limits.max_result_kb,
            memory_killed=_looks_like_memory_error(ran.raw),
        )

    def close(self) -> None:
        """Stop the idle servers (one still evaluating stops when its evaluation ends)."""
        with self._lock:
            self._closed = True
            servers = [server for idle in self._idle.values() for server in idle]
            self._idle.clear()
        for server in servers:
            server.close()

    def __enter__(self) -> ProcessSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- the warm runner, seen from here ----------------------------------------------------------------


@dataclass(frozen=True)
class ServerKey:
    """What a server is started with: one serves only evaluations that agree on all of it."""

    python: str
    problem_dir: str
    contents: str  # a digest of the problem folder's listing (names, sizes, times): an edit restarts it
    threads: int  # the numeric libraries' thread count, fixed when they are imported
    memory_mb: int
    drop: bool
    warm: bool

    @classmethod
    def of(cls, python: str, request: EvalRequest, drop: bool, warm: bool) -> ServerKey:
        problem_dir = str(Path(request.problem_dir).resolve())
        limits = request.limits
        return cls(
            python, problem_dir, listing_digest(problem_dir), max(1, int(limits.cpus)), limits.memory_mb, drop, warm
        )


class _NotReady(Exception):
    """The server did not finish starting (importing evaluate.py) before the evaluation's deadline."""


class _StartFailed(Exception):
    """The server's interpreter exited as it started (too little memory for it, a broken install)."""

    def __init__(self, code: int | None):
        super().__init__(code)
        self.code = code


class _ServerGone(Exception):
    """The server was gone before it started the job's runner."""


@dataclass(frozen=True)
class _Ran:
    """What came of one job: the result pipe's bytes, how reading them ended, the runner's exit
    code (None: not waited for, as a result line came, or the server died), and whether the
    server removes the job's folder (else the caller does)."""

    raw: bytes
    ended: Ended
    exit_code: int | None
    folder_removed: bool


class _Server:
    """One runner_server.py process and our end of its control socket; one job at a time."""

    def __init__(self, proc: subprocess.Popen, sock: socket.socket, folder: str):
        self.proc, self.sock, self.folder = proc, sock, folder
        self.preloaded = False
        self.jobs = 0  # jobs given to it, this one included
        self._broken = False
        self._status_owed = False  # the last job's exit code is still to be read

    @classmethod
    def start(cls, key: ServerKey, deadline: float) -> _Server:
        folder = make_private_folder(key.drop, "server-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [
                    key.python,
                    "-I",
                    str(evaluators_dir() / "runner_server.py"),
                    str(theirs.fileno()),
                    key.problem_dir,
                    "1" if key.warm else "0",
                    folder,
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=folder,
                env=clean_environment(folder, key.threads),
                start_new_session=True,
                preexec_fn=_server_limits(key),
            )
        except (OSError, subprocess.SubprocessError) as exc:  # before any code of the candidate ran
            ours.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise InfrastructureError(
                f"cannot start the evaluation's interpreter {key.python} ({exc}): "
                f"check that it exists and runs, or pass another python"
            ) from exc
        finally:
            theirs.close()
        server = cls(proc, ours, folder)
        ready = server._receive(deadline)
        if ready is None:
            exited = proc.poll() if server._broken else None
            server.close()
            if exited is not None:
                raise _StartFailed(exited)
            raise _NotReady
        server.preloaded = bool(ready.get("preloaded"))
        return server

    def alive(self) -> bool:
        return not self._broken and self.proc.poll() is None

    def _receive(self, deadline: float) -> dict | None:
        """The server's next message; None when it is silent past the deadline, or gone (then it is
        marked broken)."""
        try:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            data = self.sock.recv(1 << 16)
        except TimeoutError:
            return None
        except OSError:
            data = b""
        if not data:
            self._broken = True
            return None
        return json.loads(data)

    def _send(self, message: dict, fds: tuple[int, ...] = ()) -> bool:
        try:
            socket.send_fds(self.sock, [json.dumps(message).encode()], list(fds))
            return True
        except OSError:
            self._broken = True
            return False

    def run(self, job: dict, deadline: float, limit: int) -> _Ran:
        """Run one job. Raises _ServerGone when the server was gone before the runner had the job."""
        if self._status_owed and self._receive(time.monotonic() + 30) is None:
            self.close()  # it did not finish the last job's clean-up: nothing of this job ran yet
            raise _ServerGone
        self._status_owed = False
        self.jobs += 1
        read_end, write_end = os.pipe()
        try:
            if not self._send({"run": job}, (write_end,)):
                raise _ServerGone
        finally:
            os.close(write_end)
        try:
            raw, ended = read_bounded(read_end, deadline, limit)
        except BaseException:
            self.close()  # the server kills what it started, and removes the job's folder
            raise
        finally:
            os.close(read_end)
        started = self._receive(deadline + 10)
        if started is None:
            self.close()
            if not raw:  # the server went before it started the runner: nothing of the candidate ran
                raise _ServerGone
            return _Ran(raw, ended, None, folder_removed=False)
        pid = int(started["pid"])
        if ended is Ended.EOF and raw.strip():
            # A result line: its exit code says nothing more. The server kills whatever the runner
            # left and reaps it before it reads another job, then removes the folder; its answer
            # is read before the next job is sent.
            self._status_owed = True
            return _Ran(raw, ended, None, folder_removed=True)
        # At the end of the pipe the runner is exiting: it has until the deadline to keep its exit code.
        status = self._receive(deadline) if ended is Ended.EOF else None
        if status is None and self._send({"kill": True}):
            status = self._receive(time.monotonic() + 30)
        if status is None:  # the server died (its runner died with it): what is left of its group goes
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.close()
            return _Ran(raw, ended, None, folder_removed=False)
        return _Ran(raw, ended, int(status["status"]), folder_removed=True)

    def close(self) -> None:
        """Hang up (the server then kills what it runs and exits), and make sure it is gone."""
        self._broken = True
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _server_limits(key: ServerKey):
    """In the server, before exec: the evaluation's memory, file size and core limits, and its user.
    (CPU time and processes are each runner's, set when it is forked.)"""
    memory = key.memory_mb * 1024 * 1024
    drop = key.drop

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

    return apply


def _rlimits(request: EvalRequest) -> dict[str, int]:
    """Each runner's limits (the server sets them in the forked child)."""
    limits = request.limits
    memory = limits.memory_mb * 1024 * 1024
    return {
        "RLIMIT_AS": memory,
        "RLIMIT_FSIZE": FILE_SIZE_LIMIT,
        "RLIMIT_CPU": int(limits.timeout * max(1.0, limits.cpus)) + 5,
        "RLIMIT_CORE": 0,
        # RLIMIT_NPROC counts every process of the user; it is enforced for non-root only.
        "RLIMIT_NPROC": limits.pids_limit,
    }


def _timed_out(timeout: float, duration: float) -> EvalOutcome:
    """An evaluate.py that did not finish importing in time: the timeout every candidate got before."""
    return interpret(
        b"", exit_code=None, timed_out=True, duration=duration, sandbox=SandboxKind.PROCESS, timeout=timeout
    )


def _looks_like_memory_error(raw: bytes) -> bool:
    # Under RLIMIT_AS an allocation fails with MemoryError instead of an OOM kill.
    return b'"error": "MemoryError' in raw
