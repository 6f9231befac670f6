"""How a Docker sandbox container is made: the lock-down, the mounts, and the bootstrap it runs.

Each container: no network, read-only root, a private tmpfs at /tmp (the working directory),
memory == memory+swap limit, a CPU quota, a pids limit, `no-new-privileges`, every capability
dropped, user 65534, a fixed environment with nothing of the host's, the problem folder and
evaluators/ mounted read-only, no log driver (nothing the candidate prints reaches the host's
disk). Its first process is evaluators/container_bootstrap.py, which waits for one job on stdin
(and, `warm`, starts the runner at once so that evaluate.py is imported before the job comes).
Its stdin is open and closed once (`StdinOnce`, the SDK's default with `stdin_open`): the host
attaches before it starts the container and holds that connection until it is done with it, so
the bootstrap's stdin ends when the host hangs up or dies, and the container with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from evolve.sandbox.base import EvalRequest, Limits
from evolve.sandbox.environment import clean_environment
from evolve.sandbox.process import NOBODY

CONTAINER_PROBLEM = "/problem"
CONTAINER_EVALUATORS = "/evolve"
BOOTSTRAP = f"{CONTAINER_EVALUATORS}/container_bootstrap.py"
RUNNER = f"{CONTAINER_EVALUATORS}/runner.py"
# What the bootstrap writes on stderr once it has the job (container_bootstrap.TAKEN; a test
# checks the two are equal): a container that ends without it never ran the candidate.
BOOTSTRAP_TAKEN = b"evolve-bootstrap: job taken\n"
MAX_CODE_BYTES = 8 * 1024 * 1024
MAX_JOB_BYTES = MAX_CODE_BYTES + 65536  # the code, and the JSON around it
IDLE_SECONDS = 900  # a pooled container nobody claims ends itself after this long (its owner alive)


@dataclass(frozen=True)
class PoolKey:
    """Everything a container is created with; pooled containers are only used for an equal key."""

    problem_dir: str
    limits: Limits  # the image among them

    @classmethod
    def of(cls, request: EvalRequest) -> PoolKey:
        # The deadline, CPU pinning and the result's bound apply per evaluation, not when the
        # container is made.
        made_with = replace(request.limits, timeout=0.0, pin_cpus=False, max_result_kb=0)
        return cls(str(Path(request.problem_dir).resolve()), made_with)


def top_level_cgroup(info: dict) -> str | None:
    """The cgroup parent that gives each container the CPU weight of a host process, or None to
    keep the engine's default (`docker info` as a dict).

    With the cgroupfs driver every container's cgroup is made under one `/docker` group, and the
    kernel shares CPU between siblings by weight: all containers together weigh as much as one
    host process (one session, with autogroup), so on a busy host two evaluations at once get
    about half the CPU two processes would (bench/docker_speed.py). Parent "/" makes each
    container a sibling of the host's own groups, as a process-sandbox evaluation is (its own
    session). The systemd driver wants a slice name instead: left alone there."""
    if info.get("CgroupDriver") == "cgroupfs" and str(info.get("CgroupVersion", "1")) == "1":
        return "/"
    return None


def create_container(
    api,
    key: PoolKey,
    evaluators_dir: str,
    labels: dict[str, str],
    warm: bool = False,
    cgroup_parent: str | None = None,
) -> str:
    """Create (not start) a locked-down container for `key`; returns its id. `warm`: its runner
    starts at once and imports evaluate.py before the job comes. `cgroup_parent`: see
    top_level_cgroup."""
    import docker

    limits = key.limits
    device_requests = None
    if limits.gpus > 0:
        device_requests = [docker.types.DeviceRequest(count=max(1, math.ceil(limits.gpus)), capabilities=[["gpu"]])]
    host_config = api.create_host_config(
        # Mount objects, not "src:dst:ro" strings: a ':' in a host path would break those.
        mounts=[
            docker.types.Mount(CONTAINER_PROBLEM, key.problem_dir, type="bind", read_only=True),
            docker.types.Mount(CONTAINER_EVALUATORS, evaluators_dir, type="bind", read_only=True),
        ],
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
        cgroup_parent=cgroup_parent,
    )
    created = api.create_container(
        limits.image,
        entrypoint=["python3"],
        # A file on the read-only mount, run by path; what it needs to know comes as arguments.
        command=["-I", BOOTSTRAP, str(IDLE_SECONDS), str(MAX_JOB_BYTES), RUNNER, CONTAINER_PROBLEM]
        + (["warm"] if warm else []),
        user=f"{NOBODY}:{NOBODY}",
        environment=clean_environment("/tmp", limits.cpus),
        working_dir="/tmp",
        labels=labels,
        stdin_open=True,
        tty=False,
        network_disabled=True,
        host_config=host_config,
    )
    return created["Id"]
