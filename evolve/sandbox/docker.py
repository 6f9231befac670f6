"""The Docker sandbox: every candidate in a fresh, locked-down container, used once.

Each container: no network, read-only root, a private tmpfs at /tmp (the working directory),
memory == memory+swap limit, a CPU quota (and, when asked, its own CPU set), a pids limit,
`no-new-privileges`, every capability dropped, user 65534, a fixed environment with nothing of
the host's, the problem folder and evaluators/ mounted read-only, no log driver (nothing the
candidate prints reaches the host's disk), labelled `evolve.sandbox=1`.

How a job gets in and the result out: the container's first process is a small bootstrap that
waits on stdin for one JSON line (the candidate's code, its file name, the runner's spec). It
writes the candidate into /tmp, starts `runner.py` as its child and acts as the container's init
(reaps, enforces a deadline of its own). The runner's stdout is the container's stdout, read over
the attach socket; the runner hands everything the candidate and evaluate.py print to a bounded
capture inside the result, so the candidate cannot write a result line of its own.

Start-up cost: the bootstrap can wait before any job exists, so containers are started ahead of
time, a few per (image, problem, limits), each used for exactly one candidate and then removed;
a replacement starts in the background.
"""

from __future__ import annotations

import atexit
import collections
import fcntl
import json
import math
import os
import signal
import socket
import tempfile
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from evolve import resources
from evolve.sandbox.base import MAX_RESULT_BYTES, EvalOutcome, EvalRequest, Limits
from evolve.sandbox.checks import docker_ready  # noqa: F401  (re-exported: evolve.sandbox.docker.docker_ready)
from evolve.sandbox.process import NOBODY, clean_environment
from evolve.sandbox.result import interpret

LABEL = "evolve.sandbox"
OWNER_LABEL = "evolve.owner"
INSTANCE_LABEL = "evolve.instance"
RUN_LABEL = "evolve.run"
MAX_STDERR_BYTES = 16 * 1024
MAX_CODE_BYTES = 8 * 1024 * 1024
IDLE_SECONDS = 900  # a pooled container nobody claims ends itself after this long
POOL_MAX_AGE = 600  # ...and we stop handing it out well before that
CONTAINER_PROBLEM = "/problem"
CONTAINER_EVALUATORS = "/evolve"

# Runs as the container's first process (PID 1). argv[1]: seconds to wait for a job.
BOOTSTRAP = r"""
import json, os, select, signal, sys
try:
    import ctypes
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/1/fd
except Exception:
    pass
if not select.select([0], [], [], float(sys.argv[1]))[0]:
    os._exit(3)
data = b""
while not data.endswith(b"\n"):
    chunk = os.read(0, 1 << 20)
    if not chunk or len(data) > %(limit)d:
        os._exit(4)
    data += chunk
job = json.loads(data)
path = os.path.join("/tmp", os.path.basename(job["filename"]) or "candidate.py")
with open(path, "w") as f:
    f.write(job["code"])
pid = os.fork()
if pid == 0:
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    os.execv(sys.executable, [sys.executable, "-I", "%(runner)s", "%(problem)s", path, job["spec"]])

def expire(*_):
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    os._exit(124)

signal.signal(signal.SIGALRM, expire)
signal.setitimer(signal.ITIMER_REAL, float(job["deadline"]))
code = 1
while True:
    try:
        done, status = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    except InterruptedError:
        continue
    if done == pid:
        code = os.waitstatus_to_exitcode(status)
        break
try:
    os.kill(-1, signal.SIGKILL)  # whatever the candidate left behind
except OSError:
    pass
os._exit(code if code >= 0 else 128 - code)
""" % {"limit": MAX_CODE_BYTES + 65536, "runner": f"{CONTAINER_EVALUATORS}/runner.py", "problem": CONTAINER_PROBLEM}


@dataclass(frozen=True)
class PoolKey:
    """Everything a container is created with; pooled containers are only used for an equal key."""

    problem_dir: str
    limits: Limits  # the image among them

    @classmethod
    def of(cls, request: EvalRequest) -> "PoolKey":
        # The deadline and CPU pinning are applied per evaluation, not when the container is made.
        made_with = replace(request.limits, timeout=0.0, pin_cpus=False)
        return cls(str(Path(request.problem_dir).resolve()), made_with)


class CpuSets:
    """Hands out disjoint sets of host CPUs, so pinned evaluations never share a core.

    One lock file per CPU (`flock`), so the sets are disjoint across threads, across sandboxes
    and across processes on this host (Ray runs each evaluation worker in its own process); a
    lock dies with its process, so a crash never strands a CPU.
    """

    def __init__(self, cpus: list[int], lock_dir: str | None = None):
        self.all = sorted(cpus)
        self.lock_dir = lock_dir or os.path.join(tempfile.gettempdir(), f"evolve-cpusets-{os.getuid()}")
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
        self._held: dict[int, int] = {}  # cpu -> fd, for the sets this object handed out
        self._mutex = threading.Lock()

    def _try(self, cpu: int) -> int | None:
        fd = os.open(os.path.join(self.lock_dir, f"cpu{cpu}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            os.close(fd)
            return None

    def acquire(self, count: int) -> list[int]:
        count = max(1, min(count, len(self.all)))
        delay = 0.005
        while True:
            taken: dict[int, int] = {}
            with self._mutex:
                for cpu in self.all:
                    if cpu in self._held:
                        continue
                    fd = self._try(cpu)
                    if fd is not None:
                        taken[cpu] = fd
                        if len(taken) == count:
                            self._held.update(taken)
                            return sorted(taken)
                for fd in taken.values():
                    os.close(fd)  # closing drops the lock
            time.sleep(delay)
            delay = min(0.05, delay * 2)

    def release(self, cpus: list[int]) -> None:
        with self._mutex:
            for cpu in cpus:
                fd = self._held.pop(cpu, None)
                if fd is not None:
                    os.close(fd)


def _owner_token(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _owner_alive(token: str) -> bool:
    host, _, rest = token.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True  # another machine's: not ours to judge
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass
    return _start_time(pid) == started


def _client(timeout: int = 60):
    import docker

    return docker.from_env(timeout=timeout, max_pool_size=64)


def cleanup_containers(client=None, orphans_only: bool = False, run: str | None = None) -> int:
    """Remove containers labelled `evolve.sandbox=1`; returns how many.

    `orphans_only`: only those whose owning process (on this host) is gone, so that a second
    run or a Ray worker on the same engine keeps its own. `run`: only that run's containers
    (an engine run removes its own pools at the end, whichever worker process made them).
    """
    import docker

    client = client or _client()
    api = client.api
    removed = 0
    labels = [f"{LABEL}=1"] + ([f"{RUN_LABEL}={run}"] if run else [])
    for info in api.containers(all=True, filters={"label": labels}):
        owner = (info.get("Labels") or {}).get(OWNER_LABEL, "")
        if orphans_only and owner and _owner_alive(owner):
            continue
        try:
            api.remove_container(info["Id"], force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise
    return removed


def _raw_socket(sock):
    return getattr(sock, "_sock", sock)


class _Stream:
    """Reads docker's multiplexed attach stream (8-byte frame headers) up to a deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.out = bytearray()
        self.err = bytearray()
        self.out_overflow = False
        self.complete = False  # the runner's one result line has arrived (it ends with the only newline)

    def read_until_eof(self, deadline: float) -> bool:
        """True at EOF or once the result line is complete, False when the deadline passed first."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(262144)
            except (socket.timeout, TimeoutError):
                return False
            except OSError:
                return True
            if not chunk:
                return True
            self.buf += chunk
            self._frames()
            if self.out_overflow or self.complete:
                return True

    def _frames(self) -> None:
        while len(self.buf) >= 8:
            size = int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < 8 + size:
                return
            stream, payload = self.buf[0], bytes(self.buf[8:8 + size])
            del self.buf[:8 + size]
            if stream == 1:
                if len(self.out) + len(payload) > MAX_RESULT_BYTES:
                    self.out_overflow = True
                    return
                self.out += payload
                if b"\n" in payload:
                    self.complete = True
            elif stream == 2 and len(self.err) < MAX_STDERR_BYTES:
                self.err += payload[: MAX_STDERR_BYTES - len(self.err)]


_live: "weakref.WeakSet[DockerSandbox]" = weakref.WeakSet()


def _close_all() -> None:
    for sandbox in list(_live):
        try:
            sandbox.close()
        except Exception:
            pass


atexit.register(_close_all)


def _install_sigterm() -> None:
    """Turn SIGTERM into SystemExit (so finally blocks and atexit remove our containers), but only
    where nobody else has claimed the signal (Ray workers have their own handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(128 + signum)


class DockerSandbox:
    """Runs each candidate in its own container; `pool_size` containers per key wait pre-started."""

    name = "docker"

    def __init__(self, pool_size: int = 2, client=None, evaluators_dir: str | Path | None = None,
                 max_pools: int = 4, cleanup: bool = True, cpus: list[int] | None = None, run: str | None = None):
        import docker

        self._docker = docker
        self.client = client or _client()
        self.api = self.client.api
        self.pool_size = max(0, int(pool_size))
        self.max_pools = max(1, int(max_pools))
        self.evaluators_dir = str(Path(evaluators_dir or resources.evaluators_dir()).resolve())
        self.owner = _owner_token()
        self.instance = uuid.uuid4().hex[:12]
        self.run = run
        self._lock = threading.Lock()
        self._ready: "collections.OrderedDict[PoolKey, collections.deque[tuple[str, float]]]" = collections.OrderedDict()
        self._pending: collections.Counter[PoolKey] = collections.Counter()
        self._all: set[str] = set()  # every container this sandbox created and has not removed
        self._closed = False
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="evolve-docker")
        self._cpusets = CpuSets(cpus if cpus is not None else self._host_cpus())
        if cleanup:
            cleanup_containers(self.client, orphans_only=True)
        _live.add(self)
        _install_sigterm()

    def _host_cpus(self) -> list[int]:
        if not os.environ.get("DOCKER_HOST") and hasattr(os, "sched_getaffinity"):
            return sorted(os.sched_getaffinity(0))
        return list(range(int(self.client.info().get("NCPU", 1))))

    # -- containers ----------------------------------------------------------------------------

    def _start_container(self, key: PoolKey) -> str:
        docker = self._docker
        device_requests = None
        limits = key.limits
        if limits.gpus > 0:
            device_requests = [docker.types.DeviceRequest(count=max(1, math.ceil(limits.gpus)), capabilities=[["gpu"]])]
        host_config = self.api.create_host_config(
            # Mount objects, not "src:dst:ro" strings: a ':' in a host path would break those.
            mounts=[docker.types.Mount(CONTAINER_PROBLEM, key.problem_dir, type="bind", read_only=True),
                    docker.types.Mount(CONTAINER_EVALUATORS, self.evaluators_dir, type="bind", read_only=True)],
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777"},
            shm_size=f"{max(1, min(limits.tmpfs_mb, 64))}m",
            mem_limit=f"{limits.memory_mb}m",
            memswap_limit=f"{limits.memory_mb}m",
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids_limit,
            security_opt=["no-new-privileges"],
            cap_drop=["ALL"],
            ipc_mode="private",
            ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)],
            log_config=docker.types.LogConfig(type="none"),
            device_requests=device_requests,
        )
        created = self.api.create_container(
            limits.image,
            entrypoint=["python3"],
            command=["-I", "-c", BOOTSTRAP, str(IDLE_SECONDS)],
            user=f"{NOBODY}:{NOBODY}",
            environment=clean_environment("/tmp", limits.cpus),
            working_dir="/tmp",
            labels={LABEL: "1", OWNER_LABEL: self.owner, INSTANCE_LABEL: self.instance,
                    **({RUN_LABEL: self.run} if self.run else {})},
            stdin_open=True,
            tty=False,
            network_disabled=True,
            host_config=host_config,
        )
        cid = created["Id"]
        with self._lock:
            self._all.add(cid)
        try:
            self.api.start(cid)
        except BaseException:
            self._remove(cid)
            raise
        return cid

    def _remove(self, cid: str) -> None:
        try:
            self.api.remove_container(cid, force=True)
        except self._docker.errors.NotFound:
            pass
        except self._docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise
        with self._lock:
            self._all.discard(cid)

    def _remove_later(self, cid: str) -> None:
        with self._lock:
            closed = self._closed
        if not closed:
            try:
                self._background.submit(self._quiet_remove, cid)
                return
            except RuntimeError:  # executor shut down
                pass
        self._quiet_remove(cid)

    def _quiet_remove(self, cid: str) -> None:
        try:
            self._remove(cid)
        except Exception:
            pass  # the label sweep gets it

    # -- the pool ------------------------------------------------------------------------------

    def _take(self, key: PoolKey) -> str | None:
        stale: list[str] = []
        found = None
        with self._lock:
            queue = self._ready.get(key)
            if queue is not None:
                self._ready.move_to_end(key)
                while queue:
                    cid, born = queue.popleft()
                    if time.monotonic() - born < POOL_MAX_AGE:
                        found = cid
                        break
                    stale.append(cid)
        for cid in stale:
            self._remove_later(cid)
        return found

    def _refill(self, key: PoolKey) -> None:
        if self.pool_size == 0:
            return
        evicted: list[str] = []
        with self._lock:
            if self._closed:
                return
            queue = self._ready.setdefault(key, collections.deque())
            self._ready.move_to_end(key)
            while len(self._ready) > self.max_pools:
                _, old = self._ready.popitem(last=False)
                evicted += [cid for cid, _ in old]
            missing = self.pool_size - len(queue) - self._pending[key]
            self._pending[key] += max(0, missing)
        for cid in evicted:
            self._remove_later(cid)
        for _ in range(max(0, missing)):
            try:
                self._background.submit(self._add_one, key)
            except RuntimeError:
                with self._lock:
                    self._pending[key] -= 1

    def _add_one(self, key: PoolKey) -> None:
        try:
            cid = self._start_container(key)
        except Exception:
            with self._lock:
                self._pending[key] -= 1
            return
        with self._lock:
            self._pending[key] -= 1
            queue = self._ready.get(key)
            if not self._closed and queue is not None:
                queue.append((cid, time.monotonic()))
                return
        self._quiet_remove(cid)

    def warm(self, request: EvalRequest) -> None:
        """Start the pool for this request's key now, before the first candidate arrives."""
        self._refill(PoolKey.of(request))

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate(self, request: EvalRequest) -> EvalOutcome:
        from evolve.sandbox import SandboxError

        if self._closed:
            raise SandboxError("this Docker sandbox is closed")
        if len(request.code.encode()) > MAX_CODE_BYTES:
            return EvalOutcome(ok=False, score=None, reason=f"candidate rejected: code exceeds {MAX_CODE_BYTES} bytes",
                               sandbox=self.name)
        if not Path(request.problem_dir).is_dir():
            # Docker would create a missing bind source as an empty root-owned folder: refuse.
            raise SandboxError(f"problem folder {request.problem_dir} does not exist")
        key = PoolKey.of(request)
        limits = request.limits
        cpuset = self._cpusets.acquire(math.ceil(limits.cpus)) if limits.pin_cpus else None
        try:
            for attempt in range(2):
                cid = self._take(key) if attempt == 0 else None
                if cid is None:
                    try:
                        cid = self._start_container(key)
                    except self._docker.errors.ImageNotFound:
                        raise SandboxError(f"image {limits.image} not found: run `evolve sandbox build`") from None
                    except self._docker.errors.APIError as exc:
                        # Not the candidate's doing (no GPU runtime, no python3 in the image, a
                        # broken engine): stop with the engine's words rather than fail every candidate.
                        detail = getattr(exc, "explanation", None) or str(exc)
                        raise SandboxError(f"cannot start a container from {limits.image}: {detail}") from None
                self._refill(key)
                try:
                    outcome = self._run_in(cid, request, cpuset)
                finally:
                    self._remove_later(cid)
                if outcome is not None:
                    return outcome
            return self._infra_failure("the container did not accept the job twice")
        finally:
            if cpuset is not None:
                self._cpusets.release(cpuset)

    def _infra_failure(self, why: str) -> EvalOutcome:
        return EvalOutcome(ok=False, score=None, reason=f"sandbox error: {why}"[:500], sandbox=self.name)

    def _run_in(self, cid: str, request: EvalRequest, cpuset: list[int] | None) -> EvalOutcome | None:
        """Run the job in this started container. None: the container was unusable (retry)."""
        docker = self._docker
        try:
            if cpuset is not None:
                self.api.update_container(cid, cpuset_cpus=",".join(map(str, cpuset)))
            sock = self.api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        except docker.errors.APIError:
            return None
        raw = _raw_socket(sock)
        job = json.dumps({
            "code": request.code, "filename": os.path.basename(request.filename) or "candidate.py",
            "spec": request.spec_json(), "deadline": request.limits.timeout + 5,
        }).encode() + b"\n"
        try:
            started = time.monotonic()
            try:
                raw.sendall(job)
            except OSError:
                return None
            stream = _Stream(raw)
            finished = stream.read_until_eof(started + request.limits.timeout)
            duration = time.monotonic() - started
        finally:
            try:
                sock.close()
            except OSError:
                pass
        if not finished:
            try:
                self.api.kill(cid)
            except docker.errors.APIError:
                pass
            return interpret(b"", exit_code=None, timed_out=True, duration=duration, sandbox=self.name,
                             timeout=request.limits.timeout)
        if stream.out_overflow:
            return EvalOutcome(ok=False, score=None, duration=duration, sandbox=self.name,
                               reason=f"invalid result: the result exceeds {MAX_RESULT_BYTES} bytes")
        stderr = stream.err.decode(errors="replace").strip()

        def verdict(exit_code, oom):
            return interpret(
                # 124 is the bootstrap's own kill at the deadline; an evaluator that exits 124 early
                # (or a candidate that signals the bootstrap) is a crash, not a timeout.
                bytes(stream.out), exit_code=exit_code, duration=duration,
                timed_out=exit_code == 124 and duration >= request.limits.timeout,
                sandbox=self.name, memory_killed=oom, timeout=request.limits.timeout,
                extra_logs=f"[container stderr]\n{stderr}\n" if stderr else "",
            )

        if stream.complete:
            outcome = verdict(None, False)
            if outcome.ok or outcome.score is not None:
                return outcome  # the evaluator's verdict stands; no need to wait for the exit
        # A failure: say why. Docker records an OOM kill anywhere in the container (a candidate
        # child, the evaluator) when the container exits, so wait for that before inspecting.
        exit_code, oom = None, False
        try:
            exit_code = self.api.wait(cid, timeout=10).get("StatusCode")
            oom = bool(self.api.inspect_container(cid).get("State", {}).get("OOMKilled"))
        except Exception:
            pass
        if not stream.out and exit_code in (3, 4) and not stream.err:
            return None  # the bootstrap never took the job (idle expiry, broken pipe)
        return verdict(exit_code, oom)

    # -- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._ready.clear()
        self._background.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            left = list(self._all)
        for cid in left:
            self._quiet_remove(cid)
        _live.discard(self)

    def __enter__(self) -> "DockerSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
