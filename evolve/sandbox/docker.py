"""The Docker sandbox: every candidate in a fresh, locked-down container, used once.

How a container is made (the lock-down, the mounts) is `container.py`; the containers started
ahead of time are `pool.py`; the labels and the removal of what is left are `cleanup.py`; host
CPUs for pinned evaluations are `cpusets.py`; reading the container's output is `attach.py`;
which SDK errors mean the engine, not the candidate, failed is `faults.py`.

How a job gets in and the result out: the container's first process is
evaluators/container_bootstrap.py. The host attaches to each container before it starts it and
keeps that connection (stdin, stdout, stderr) until the container's evaluation is over: the job
goes in over it without a second round trip to the engine, and when the host dies the container's
stdin ends, and the container with it (a reaper process, cleanup.watch_owner, removes it). The
bootstrap waits on stdin for one JSON line (the candidate's code, its file name, the runner's
spec), says on stderr that it took it, writes the candidate into /tmp, hands it to `runner.py`
(started with the container, it has imported evaluate.py meanwhile) and acts as the container's
init (reaps, enforces a deadline of its own). The runner's stdout is the container's stdout, read
over the attach socket; the runner hands everything the candidate and evaluate.py print to a
bounded capture inside the result, so the candidate cannot write a result line of its own.

What the candidate does (time out, run out of memory, crash, print garbage or too much) is its
EvalOutcome. What the machinery does is raised: DockerUnavailable (the engine does not answer),
ImageMissing, or InfrastructureError (the engine refuses to start a container; containers that
never take the job), so the engine can pause the run instead of blaming candidates.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from evolve import resources
from evolve.errors import InfrastructureError
from evolve.kinds import FailureKind
from evolve.sandbox.attach import AttachStream, hang_up, raw_socket
from evolve.sandbox.base import EvalOutcome, EvalRequest, SandboxKind
from evolve.sandbox.checks import docker_ready  # noqa: F401  (re-exported: evolve.sandbox.docker.docker_ready)
from evolve.sandbox.cleanup import (
    INSTANCE_LABEL,
    LABEL,
    OWNER_LABEL,
    RUN_LABEL,
    cleanup_containers,
    close_at_exit,
    closed,
    owner_token,
    remove_container,
    watch_owner,
)
from evolve.sandbox.container import (
    BOOTSTRAP,
    BOOTSTRAP_TAKEN,
    CONTAINER_PROBLEM,  # noqa: F401  (re-exported: tests and problems name the mount point)
    MAX_CODE_BYTES,
    PoolKey,
    create_container,
    top_level_cgroup,
)
from evolve.sandbox.cpusets import CpuSets
from evolve.sandbox.faults import cause_of, engine_faults, is_engine_gone
from evolve.sandbox.pool import ContainerPool
from evolve.sandbox.result import interpret, result_line_bytes, too_large
from evolve.sandbox.staging import mountable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotTaken:
    """The container never ran the candidate (it aged out, died, or the engine lost it): try another."""

    why: str


def _client(base_url: str | None = None, timeout: int = 60):
    """A client of the engine at `base_url` (default: DOCKER_HOST, else the local socket)."""
    import docker

    with engine_faults(base_url):
        if base_url:
            return docker.DockerClient(base_url=base_url, timeout=timeout, max_pool_size=64)
        return docker.from_env(timeout=timeout, max_pool_size=64)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:300] if lines else ""


class DockerSandbox:
    """Runs each candidate in its own container; `pool_size` containers per key wait pre-started.

    `client` (a docker.DockerClient) or `base_url` chooses the engine; `run` labels the containers
    with the run, `cpus` are the host CPUs pinned evaluations share out. `warm_runner`: each
    container's runner starts with the container and imports evaluate.py while it waits in the
    pool (False: the runner starts when the job comes). `reaper`: a process of its own removes
    this process's containers once it dies, however (see cleanup.watch_owner). `own_cgroup`: each
    container's cgroup at the top of the hierarchy, weighing as much as a host process, rather
    than under the engine's shared `/docker` group (see container.top_level_cgroup).
    """

    name: str = SandboxKind.DOCKER

    def __init__(
        self,
        pool_size: int = 2,
        client=None,
        evaluators_dir: str | Path | None = None,
        max_pools: int = 4,
        cleanup: bool = True,
        cpus: list[int] | None = None,
        run: str | None = None,
        base_url: str | None = None,
        warm_runner: bool = True,
        reaper: bool = True,
        own_cgroup: bool = True,
    ):
        import docker

        self._docker = docker
        self.client = client or _client(base_url)
        self.api = self.client.api
        self.evaluators_dir = str(Path(evaluators_dir or resources.evaluators_dir()).resolve())
        self.owner = owner_token()
        self.instance = uuid.uuid4().hex[:12]
        self.run = run
        self.warm_runner = warm_runner
        self.reaper = reaper
        self._lock = threading.Lock()
        self._sockets: dict[str, object] = {}  # container -> the attach connection made before it started
        self._all: set[str] = set()  # every container this sandbox created and has not removed
        self._closed = False
        self.cgroup_parent = self._cgroup_parent() if own_cgroup else None
        self.pool = ContainerPool(pool_size, max_pools, start=self._start_container, remove=self._quiet_remove)
        self._cpusets = CpuSets(cpus if cpus is not None else self._host_cpus())
        if cleanup:
            try:
                cleanup_containers(self.client, orphans_only=True)
            except Exception as exc:  # housekeeping: the first evaluation says clearly what is wrong
                log.warning("could not remove orphaned sandbox containers: %s", exc)
        close_at_exit(self)

    def _cgroup_parent(self) -> str | None:
        try:
            return top_level_cgroup(self.client.info())
        except Exception as exc:  # the first evaluation says clearly what is wrong with the engine
            log.debug("docker info failed: %s", exc)
            return None

    def _host_cpus(self) -> list[int]:
        if not os.environ.get("DOCKER_HOST") and hasattr(os, "sched_getaffinity"):
            return sorted(os.sched_getaffinity(0))
        with engine_faults(self.client):
            return list(range(int(self.client.info().get("NCPU", 1))))

    # -- containers ----------------------------------------------------------------------------

    def _start_container(self, key: PoolKey) -> str:
        labels = {
            LABEL: "1",
            OWNER_LABEL: self.owner,
            INSTANCE_LABEL: self.instance,
            **({RUN_LABEL: self.run} if self.run else {}),
        }
        if self.reaper:
            watch_owner(self.api, self.owner)
        cid = create_container(
            self.api, key, self.evaluators_dir, labels, warm=self.warm_runner, cgroup_parent=self.cgroup_parent
        )
        with self._lock:
            self._all.add(cid)
        try:
            # Attached before it starts: nothing it writes is missed, and its stdin stays open
            # exactly as long as this connection (the container ends when we hang up or die).
            sock = self.api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            with self._lock:
                self._sockets[cid] = sock
            self.api.start(cid)
        except BaseException:
            self._quiet_remove(cid)
            raise
        return cid

    def _start_for(self, key: PoolKey) -> str:
        """A fresh container for an evaluation; the engine refusing one is the machinery's fault."""
        try:
            return self._start_container(key)
        except self._docker.errors.ImageNotFound:
            raise  # engine_faults names the image and the fix
        except self._docker.errors.APIError as exc:
            # Not the candidate's doing (no GPU runtime, no python3 in the image, a broken engine):
            # stop with the engine's words rather than fail every candidate.
            detail = getattr(exc, "explanation", None) or str(exc)
            raise InfrastructureError(
                f"the Docker engine cannot start a container from {key.limits.image}: {detail}"[:500]
            ) from None

    def _remove(self, cid: str) -> None:
        with self._lock:
            sock = self._sockets.pop(cid, None)
        if sock is not None:
            hang_up(sock)
        remove_container(self.api, cid)
        with self._lock:
            self._all.discard(cid)

    def _quiet_remove(self, cid: str) -> Exception | None:
        """Remove a container; on failure return why (the label sweep gets it later)."""
        try:
            self._remove(cid)
            return None
        except Exception as exc:
            log.debug("could not remove container %s: %s", cid[:12], exc)
            return exc

    def warm(self, request: EvalRequest) -> None:
        """Start the pool for this request's key now, before the first candidate arrives."""
        self.pool.refill(PoolKey.of(replace(request, problem_dir=mountable(request.problem_dir))))

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate(self, request: EvalRequest) -> EvalOutcome:
        """The candidate's outcome. Raises DockerUnavailable, ImageMissing or InfrastructureError
        when the machinery, not the candidate, failed."""
        if self._closed:
            raise RuntimeError("this Docker sandbox is closed")
        if len(request.code.encode()) > MAX_CODE_BYTES:
            return EvalOutcome.failure(
                FailureKind.CANDIDATE_REJECTED, f"code exceeds {MAX_CODE_BYTES} bytes", sandbox=self.name
            )
        if not Path(request.problem_dir).is_dir():
            # Docker would create a missing bind source as an empty root-owned folder: refuse.
            raise InfrastructureError(
                f"problem folder {request.problem_dir} does not exist on this node: the evaluation needs it there"
            )
        # A folder the containers' user cannot read is mounted as a readable copy.
        request = replace(request, problem_dir=mountable(request.problem_dir))
        key = PoolKey.of(request)
        limits = request.limits
        with engine_faults(self.client, limits.image):
            cpuset = self._cpusets.acquire(math.ceil(limits.cpus)) if limits.pin_cpus else None
            try:
                return self._evaluate(key, request, cpuset)
            finally:
                if cpuset is not None:
                    self._cpusets.release(cpuset)

    def _evaluate(self, key: PoolKey, request: EvalRequest, cpuset: list[int] | None) -> EvalOutcome:
        why = ""
        for attempt in range(2):
            # A pooled container first; one that never took the job is followed by a fresh one.
            cid = self.pool.take(key) if attempt == 0 else None
            if cid is None:
                cid = self._start_for(key)
            self.pool.refill(key)
            try:
                outcome = self._run_in(cid, request, cpuset)
            finally:
                self.pool.remove_later(cid)
            if isinstance(outcome, EvalOutcome):
                return outcome
            why = outcome.why
        raise InfrastructureError(
            f"containers from {key.limits.image} do not take the job ({why}): check that the image's python3 "
            f"runs {BOOTSTRAP} (`evolve sandbox build --force` rebuilds the default image)"[:600]
        )

    def _engine_answers(self) -> bool:
        try:
            self.api.ping()
            return True
        except Exception:
            return False

    def _run_in(self, cid: str, request: EvalRequest, cpuset: list[int] | None) -> EvalOutcome | NotTaken:
        """Run the job in this started container."""
        docker = self._docker
        limits = request.limits
        with self._lock:
            sock = self._sockets.pop(cid, None)
        try:
            if cpuset is not None:
                self.api.update_container(cid, cpuset_cpus=",".join(map(str, cpuset)))
            if sock is None:  # not expected: every container is attached when it is made
                sock = self.api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        except docker.errors.APIError as exc:
            if sock is not None:
                hang_up(sock)
            return NotTaken(f"cannot attach to it: {_last_line(str(exc))}")
        raw = raw_socket(sock)
        job = _job_line(request)
        try:
            started = time.monotonic()
            try:
                raw.sendall(job)
            except OSError as exc:
                return NotTaken(f"cannot send it the job: {exc}")
            stream = AttachStream(raw, result_line_bytes(limits.max_result_kb))
            finished = stream.read_until_eof(started + limits.timeout)
            duration = time.monotonic() - started
        finally:
            hang_up(sock)
        # The bootstrap says so first thing once it has the job: before that, no candidate existed.
        taken = stream.err.startswith(BOOTSTRAP_TAKEN)
        stderr = bytes(stream.err[len(BOOTSTRAP_TAKEN) :] if taken else stream.err).decode(errors="replace").strip()
        if not finished:
            try:
                self.api.kill(cid)
            except docker.errors.APIError:
                pass
            if not taken:
                return NotTaken(f"no word from its bootstrap in {limits.timeout:g} s")
            return interpret(
                b"", exit_code=None, timed_out=True, duration=duration, sandbox=self.name, timeout=limits.timeout
            )
        if stream.out_overflow:
            return too_large(limits.max_result_kb, duration=duration, sandbox=self.name)

        def verdict(exit_code, oom):
            return interpret(
                # 124 is the bootstrap's own kill at the deadline; an evaluator that exits 124 early
                # (or a candidate that signals the bootstrap) is a crash, not a timeout.
                bytes(stream.out),
                exit_code=exit_code,
                duration=duration,
                timed_out=exit_code == 124 and duration >= limits.timeout,
                sandbox=self.name,
                memory_killed=oom,
                timeout=limits.timeout,
                max_result_kb=limits.max_result_kb,
                extra_logs=f"[container stderr]\n{stderr}\n" if stderr else "",
            )

        if stream.complete:
            outcome = verdict(None, False)
            if outcome.ok or outcome.score is not None:
                return outcome  # the evaluator's verdict stands; no need to wait for the exit
        # A failure: say why. Docker records an OOM kill anywhere in the container (a candidate
        # child, the evaluator) when the container exits, so wait for that before inspecting.
        exit_code, oom = self._exit_status(cid)
        if not stream.out and not taken:
            said = f": {_last_line(stderr)}" if stderr else ""
            return NotTaken(f"it ended (exit code {exit_code}) without taking the job{said}")
        return verdict(exit_code, oom)

    def _exit_status(self, cid: str) -> tuple[int | None, bool]:
        """The container's exit code and whether it was killed for memory (None, False: unknown)."""
        exit_code, oom = None, False
        try:
            exit_code = self.api.wait(cid, timeout=10).get("StatusCode")
            oom = bool(self.api.inspect_container(cid).get("State", {}).get("OOMKilled"))
        except Exception as exc:
            # The SDK reports a slow exit as a connection error too: only an engine that no
            # longer answers at all is the engine's fault; else judge by what was printed.
            if is_engine_gone(exc) and not self._engine_answers():
                raise
        return exit_code, oom

    # -- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove every container of this sandbox. Never raises: with the engine gone it logs a
        warning (the containers carry this sandbox's labels, so a later sweep removes them)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.pool.close()
        with self._lock:
            left = list(self._all)
        for cid in left:
            exc = self._quiet_remove(cid)
            if exc is not None and is_engine_gone(exc):
                log.warning(
                    "could not remove this sandbox's %d container(s) (label %s=%s): %s; "
                    "`evolve sandbox cleanup` removes them once the engine answers",
                    len(left),
                    INSTANCE_LABEL,
                    self.instance,
                    cause_of(exc),
                )
                break  # the others would fail the same way, each after a timeout
        closed(self)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _job_line(request: EvalRequest) -> bytes:
    """The job the container's bootstrap reads from its stdin: one JSON line."""
    job = {
        "code": request.code,
        "filename": os.path.basename(request.filename) or "candidate.py",
        "spec": request.spec_json(),
        "deadline": request.limits.timeout + 5,
    }
    return json.dumps(job).encode() + b"\n"
