"""Nothing of a sandbox outlives its owner: a host process SIGKILLed with containers pre-started, or
in the middle of a process-sandbox evaluation, leaves nothing behind for long.

Each test starts the sandbox in a child process of its own, waits until there is something to
leave behind, SIGKILLs the child, and polls (up to WAIT seconds) until it is gone. Only what the
child made is looked at (its instance label, the folders named after its pid).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "fixtures" / "hostile_problem"
WAIT = 30.0  # seconds: a bound for the poll, not a timing assertion
TEST_RUN = f"test-orphans-{uuid.uuid4().hex[:8]}"

DOCKER_CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from evolve.sandbox.base import EvalRequest, Limits
from evolve.sandbox.docker import DockerSandbox
sb = DockerSandbox(pool_size=2, run={run!r}, reaper={reaper!r})
request = EvalRequest(problem_dir={problem!r}, code="import time\ndef main():\n    time.sleep(600)\n",
                      filename="initial_program.py",
                      limits=Limits.default(timeout=300, memory_mb=256, pids_limit=32, tmpfs_mb=16))
sb.warm(request)
end = time.monotonic() + 60
while len(sb.pool.ready()) < 2 and time.monotonic() < end:
    time.sleep(0.05)
print(sb.instance, flush=True)
if {evaluate!r}:
    sb.evaluate(request)
time.sleep(600)
"""

PROCESS_CHILD = r"""
import sys, time, warnings
sys.path.insert(0, {root!r})
warnings.simplefilter("ignore")
from evolve.sandbox.base import EvalRequest, Limits
from evolve.sandbox.process import ProcessSandbox
sb = ProcessSandbox(warn=False, warm={warm!r})
request = EvalRequest(problem_dir={problem!r}, code="import time\ndef main():\n    time.sleep(600)\n",
                      filename="initial_program.py", limits=Limits.default(timeout=300))
sb.evaluate(request)
"""


def poll(condition, seconds: float = WAIT) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def containers(instance: str, running_only: bool = False) -> list[str]:
    args = ["docker", "ps", "-q", "--filter", f"label=evolve.instance={instance}"]
    if not running_only:
        args.insert(2, "-a")
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()


def start_docker_child(reaper: bool, evaluate: bool) -> tuple[subprocess.Popen, str]:
    script = DOCKER_CHILD.format(root=str(ROOT), problem=str(HOSTILE), run=TEST_RUN, reaper=reaper, evaluate=evaluate)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    instance = child.stdout.readline().strip()
    assert instance, "the child did not start its sandbox"
    return child, instance


@pytest.fixture()
def clean_up(docker_engine):
    yield
    from evolve.sandbox.cleanup import cleanup_containers

    cleanup_containers(run=TEST_RUN)


@pytest.mark.docker
@pytest.mark.parametrize("evaluating", [False, True], ids=["pool only", "mid-evaluation"])
def test_containers_of_a_killed_owner_are_removed(clean_up, evaluating):
    child, instance = start_docker_child(reaper=True, evaluate=evaluating)
    want = 3 if evaluating else 2  # the pool, and the evaluation's own container
    assert poll(lambda: len(containers(instance, running_only=True)) >= want), containers(instance)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert poll(lambda: containers(instance) == []), f"left behind: {containers(instance)}"


@pytest.mark.docker
def test_a_container_whose_creation_ends_after_its_owner_died_is_removed_too(clean_up):
    """A container the owner asked for just before it died can appear seconds later (a loaded
    engine finishes the create anyway): the reaper keeps sweeping long enough to remove it."""
    child, instance = start_docker_child(reaper=True, evaluate=False)
    assert poll(lambda: len(containers(instance, running_only=True)) >= 2), containers(instance)
    owner = subprocess.run(
        ["docker", "inspect", "-f", '{{index .Config.Labels "evolve.owner"}}', containers(instance)[0]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert poll(lambda: containers(instance) == []), f"left behind: {containers(instance)}"
    time.sleep(6)  # past the reaper's first sweeps: the engine now completes the late create
    labels = {"evolve.sandbox": "1", "evolve.owner": owner, "evolve.instance": instance, "evolve.run": TEST_RUN}
    subprocess.run(
        ["docker", "create", *(f"--label={k}={v}" for k, v in labels.items()), "evolve-python:latest", "true"],
        capture_output=True,
        check=True,
    )
    assert containers(instance), "the late container was not made"
    assert poll(lambda: containers(instance) == [], seconds=45), f"left behind: {containers(instance)}"


@pytest.mark.docker
def test_containers_end_by_themselves_when_their_owner_dies(clean_up):
    """Without the reaper: the containers watch their owner's attach connection, and end with it."""
    child, instance = start_docker_child(reaper=False, evaluate=True)
    assert poll(lambda: len(containers(instance, running_only=True)) >= 3), containers(instance)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert poll(lambda: containers(instance, running_only=True) == []), "a container outlived its owner"
    assert containers(instance), "nothing left to sweep: the reaper was not off"
    from evolve.sandbox.cleanup import cleanup_containers

    cleanup_containers(orphans_only=True)  # what the next sandbox does at start
    assert containers(instance) == []


# -- the process sandbox ---------------------------------------------------------------------------------


def folders_of(pid: int) -> list[str]:
    import tempfile

    tmp = tempfile.gettempdir()
    return [os.path.join(tmp, name) for name in os.listdir(tmp) if name.startswith(f"evolve-sbx-{pid}-")]


def processes_in(folders: list[str]) -> list[int]:
    """Processes whose working directory is inside one of the folders, or that name one in their command."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if any(cwd == f or cwd.startswith(f + os.sep) or f in cmdline for f in folders):
            found.append(int(entry))
    return found


@pytest.mark.parametrize("warm", [True, False], ids=["warm runner", "fresh runner"])
def test_a_killed_host_leaves_no_evaluator_and_no_folder(warm):
    script = PROCESS_CHILD.format(root=str(ROOT), problem=str(HOSTILE), warm=warm)
    child = subprocess.Popen([sys.executable, "-c", script])
    try:

        def candidate_running() -> bool:
            folders = folders_of(child.pid)
            return any("cand-" in os.readlink(f"/proc/{pid}/cwd") for pid in processes_in(folders) if _exists(pid))

        assert poll(candidate_running), "the candidate never started"
        seen = folders_of(child.pid)
        assert len(processes_in(seen)) >= 3, "expected the server, the runner and the candidate"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert poll(lambda: processes_in(seen) == [] and folders_of(child.pid) == []), (
        f"left behind: processes {processes_in(seen)}, folders {folders_of(child.pid)}"
    )


def _exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def test_a_new_sandbox_removes_the_folders_of_owners_that_are_gone(tmp_path):
    import tempfile

    from evolve.sandbox.process import ProcessSandbox

    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"evolve-sbx-{gone.pid}-1-"))  # start time 1: not a live process
    (stale / "left.py").write_text("x = 1\n")
    inside = subprocess.Popen(["sleep", "300"], cwd=stale)
    mine = Path(tempfile.mkdtemp(prefix=f"evolve-sbx-{os.getpid()}-1-"))  # our pid, another start: gone too
    try:
        ProcessSandbox(warn=False).close()
        assert inside.wait(timeout=WAIT) == -signal.SIGKILL
        assert not stale.exists() and not mine.exists()
    finally:
        if inside.poll() is None:
            inside.kill()
            inside.wait()


def test_the_reaper_and_the_sandbox_agree_on_the_owner_label():
    from evolve.sandbox import reaper
    from evolve.sandbox.cleanup import OWNER_LABEL

    assert reaper.OWNER_LABEL == OWNER_LABEL
