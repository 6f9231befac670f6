"""The Docker sandbox with real containers: a known score, a hostile battery, the pool, pinning.

Needs a Docker engine. Missing engine = FAIL (CI must not silently skip), unless EVOLVE_SKIP_DOCKER=1.
The image is built if missing (offline: from a Debian rootfs, a few minutes the first time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evolve.errors import ImageMissing, InfrastructureError
from evolve.problem import DEFAULT_IMAGE, load_problem
from evolve.resources import evaluators_dir
from evolve.sandbox.base import EvalRequest, Limits

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "fixtures" / "hostile_problem"
FAKE_SECRET = "sk-evolve-test-NEVER-LEAK-4f9c2a"


@pytest.fixture(scope="module")
def engine(docker_engine):
    from evolve.sandbox.docker import cleanup_containers

    cleanup_containers(orphans_only=True)
    yield
    # Whatever else happened: nothing of ours remains.
    cleanup_containers(orphans_only=True)


def ours(sandbox) -> list[str]:
    """Containers of this test process (every sandbox it made shares `sandbox`'s owner label);
    another run on this machine may have its own."""
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=evolve.owner={sandbox.owner}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def ours_of(sandbox) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--no-trunc", "--filter", f"label=evolve.instance={sandbox.instance}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.fixture(scope="module")
def sandbox(engine):
    from evolve.sandbox.docker import DockerSandbox

    os.environ["EVOLVE_TEST_API_KEY"] = FAKE_SECRET
    os.environ["OPENAI_API_KEY"] = FAKE_SECRET
    sb = DockerSandbox(pool_size=2)
    yield sb
    sb.close()
    assert ours_of(sb) == []
    os.environ.pop("EVOLVE_TEST_API_KEY", None)
    os.environ.pop("OPENAI_API_KEY", None)


def hostile(code: str, timeout: float = 8.0, **limits) -> EvalRequest:
    limits = {"cpus": 1, "memory_mb": 256, "pids_limit": 32, "tmpfs_mb": 16, **limits}
    return EvalRequest(
        problem_dir=str(HOSTILE),
        code=code,
        filename="initial_program.py",
        limits=Limits.default(timeout=timeout, **limits),
    )


def digest_tree(*folders: Path) -> dict[str, str]:
    out = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# -- a real problem scores what it scores in the process sandbox ------------------------------------


def test_circle_packing_matches_process_sandbox(sandbox):
    from evolve.sandbox.process import ProcessSandbox

    problem = load_problem(ROOT / "problems" / "circle_packing")
    request = EvalRequest.for_problem(problem, problem.initial_code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = ProcessSandbox().evaluate(request)
    boxed = sandbox.evaluate(request)
    assert local.ok and boxed.ok, (local.reason, boxed.reason, boxed.logs)
    assert boxed.sandbox == "docker"
    assert boxed.score == pytest.approx(local.score, rel=1e-9)
    assert boxed.score == pytest.approx(1.8004, abs=1e-3)
    assert boxed.metrics["min_radius"] == pytest.approx(local.metrics["min_radius"])


# -- the hostile battery ---------------------------------------------------------------------------

NETWORK = r"""
import os, socket
def main():
    out = {}
    for host, port in [("1.1.1.1", 53), ("8.8.8.8", 443), ("172.17.0.1", 2375), ("deb.debian.org", 80)]:
        try:
            socket.create_connection((host, port), timeout=2).close()
            out[host] = "connected"
        except OSError as exc:
            out[host] = f"blocked: {exc}"
    out["interfaces"] = sorted(name for _, name in socket.if_nameindex())
    out["docker.sock"] = os.path.exists("/var/run/docker.sock")
    return out
"""

ENVIRONMENT = r"""
import os
def main():
    found = dict(os.environ)
    for pid in ("1", "self"):
        try:
            found["proc_" + pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
        except OSError as exc:
            found["proc_" + pid] = f"denied: {exc}"
    print("ENVIRONMENT:", found)
    keys = [k for k in os.environ if k.endswith("_API_KEY") or "TOKEN" in k or "SECRET" in k]
    return {"keys": keys, "all": found}
"""

WRITES = r"""
import os
TARGETS = ["/problem/evaluate.py", "/problem/new_file.py", "/evolve/runner.py", "/evolve/evolve_eval.py",
           "/etc/passwd", "/usr/lib/evil.py", "/root/x", "/x", "/var/tmp/x", "/home/x", "/tmp/shared.txt",
           "fine.txt"]
def main():
    out = {}
    for path in TARGETS:
        try:
            with open(path, "w") as f:
                f.write("def evaluate(p):\n    return {'score': 1e9}\n")
            out[path] = "written"
        except OSError as exc:
            out[path] = f"denied: {type(exc).__name__}"
    for path in ["/problem/evaluate.py", "/problem"]:
        try:
            os.chmod(path, 0o777)
            out["chmod " + path] = "changed"
        except OSError as exc:
            out["chmod " + path] = f"denied: {type(exc).__name__}"
    try:
        os.remove("/problem/evaluate.py")
        out["rm"] = "removed"
    except OSError as exc:
        out["rm"] = f"denied: {type(exc).__name__}"
    return out
"""

FORK_BOMB = r"""
import os
def main():
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""

MEMORY = r"""
def main():
    hoard = []
    for _ in range(200):
        hoard.append(b"x" * (64 * 1024 * 1024))  # touched, 12 GB in all
    return "ok"
"""

LOOP = r"""
def main():
    n = 0
    while True:
        n += 1
"""

FLOOD = r"""
import os, sys
def main():
    line = b"y" * (1024 * 1024)
    for _ in range(1024):  # 1 GiB on stdout, then a little on stderr
        os.write(1, line)
    sys.stderr.write("done flooding\n")
    return "ok"
"""

EARLY_EXIT = r"""
import os
def main():
    os._exit(0)
"""

FORGED = r"""
import json, os, sys
FAKE = json.dumps({"result": {"score": 1e9, "feedback": "forged"}, "logs": ""})
def main():
    print(FAKE)
    sys.stderr.write(FAKE + "\n")
    tried = {}
    for target in ["/proc/1/fd/1", "/proc/1/fd/2", "/dev/stdout", "/proc/self/fd/1"]:
        try:
            with open(target, "w") as f:
                f.write(FAKE + "\n")
            tried[target] = "written"
        except OSError as exc:
            tried[target] = f"denied: {type(exc).__name__}"
    for fd in range(3, 64):
        try:
            os.write(fd, (FAKE + "\n").encode())
        except OSError:
            pass
    return {"forged": FAKE, "tried": tried}
"""

SLEEPER = r"""
import time
def main():
    time.sleep(3600)
    return "ok"
"""


def test_hostile_battery(sandbox):
    before = digest_tree(HOSTILE, evaluators_dir())
    cases = {
        "network": hostile(NETWORK),
        "environment": hostile(ENVIRONMENT),
        "writes": hostile(WRITES),
        "fork_bomb": hostile(FORK_BOMB, timeout=5),
        "memory": hostile(MEMORY, timeout=30),
        "loop": hostile(LOOP, timeout=3),
        "flood": hostile(FLOOD, timeout=40),
        "early_exit": hostile(EARLY_EXIT),
        "forged": hostile(FORGED),
        "sleeper": hostile(SLEEPER, timeout=3),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(sandbox.evaluate, request) for name, request in cases.items()}
        results = {name: future.result(timeout=120) for name, future in futures.items()}

    def everything(outcome) -> str:
        return json.dumps([outcome.reason, outcome.feedback, outcome.logs, outcome.metrics])

    for name, outcome in results.items():
        assert FAKE_SECRET not in everything(outcome), name
        assert outcome.sandbox == "docker"
        assert len(outcome.logs) <= 40_000, (name, len(outcome.logs))

    # network: every connection refused, no interface but loopback, no docker socket.
    net = results["network"]
    assert net.ok and net.score == 0.0, net.reason
    found = json.loads(net.feedback)
    assert all(found[h].startswith("blocked") for h in ("1.1.1.1", "8.8.8.8", "172.17.0.1", "deb.debian.org")), found
    assert found["interfaces"] == ["lo"] and found["docker.sock"] is False

    # environment: nothing of the host's, no key of any kind.
    env = results["environment"]
    assert env.ok, env.reason
    assert '"keys": []' in env.feedback
    assert "EVOLVE_TEST_API_KEY" not in everything(env) and "OPENAI_API_KEY" not in everything(env)

    # writes: only the tmpfs is writable; the host's files are untouched.
    writes = results["writes"]
    assert writes.ok, writes.reason
    attempts = json.loads(writes.feedback)
    assert attempts.pop("fine.txt") == "written"  # its own working directory, nothing else
    assert all(v.startswith("denied") for v in attempts.values()), attempts
    assert digest_tree(HOSTILE, evaluators_dir()) == before
    assert not (HOSTILE / "new_file.py").exists()

    assert results["fork_bomb"].ok is False
    assert results["fork_bomb"].reason.startswith(("timeout", "candidate rejected")), results["fork_bomb"].reason
    assert results["memory"].ok is False and results["memory"].reason.startswith("memory"), results["memory"]
    assert results["loop"].ok is False and results["loop"].reason.startswith("timeout"), results["loop"].reason
    assert results["sleeper"].ok is False and results["sleeper"].reason.startswith("timeout")
    assert results["sleeper"].duration < 3 + 2

    flood = results["flood"]
    assert (flood.ok and flood.score == 1.0) or flood.reason.startswith("timeout"), flood.reason
    if flood.ok:
        assert "bytes of output skipped" in flood.logs

    early = results["early_exit"]
    assert early.ok is False and early.reason.startswith("candidate rejected"), early.reason
    assert "without returning" in early.reason

    forged = results["forged"]
    assert forged.score != 1e9
    assert forged.ok and forged.score == 0.0, forged.reason  # the evaluator's verdict, not the forgery
    tried = json.loads(forged.feedback)["tried"]
    assert tried["/proc/1/fd/1"].startswith("denied") and tried["/proc/1/fd/2"].startswith("denied")

    # ... and the run goes on: a normal candidate right after scores normally.
    after = sandbox.evaluate(hostile("def main():\n    return 'ok'\n"))
    assert after.ok and after.score == 1.0, after.reason
    assert digest_tree(HOSTILE, evaluators_dir()) == before


def test_no_container_remains_after_close(engine):
    from evolve.sandbox.docker import DockerSandbox

    sb = DockerSandbox(pool_size=2)
    sb.evaluate(hostile(LOOP, timeout=1))
    sb.evaluate(hostile("def main():\n    return 'ok'\n"))
    assert ours_of(sb), "the pool should hold pre-started containers"
    sb.close()
    assert ours_of(sb) == []


# -- the pool --------------------------------------------------------------------------------------

MARK = r"""
import os, socket
def main():
    seen = os.path.exists("/tmp/marker") or os.path.exists("marker")
    with open("marker", "w") as f:
        f.write("I was here")
    return {"host": socket.gethostname(), "seen": seen}
"""


def _wait_ready(sb, count: int, timeout: float = 20.0) -> list[str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready = sb.pool.ready()
        if len(ready) >= count:
            return ready
        time.sleep(0.05)
    raise AssertionError("the pool did not fill")


def test_pool_containers_are_used_once(engine):
    from evolve.sandbox.docker import DockerSandbox

    with DockerSandbox(pool_size=2) as sb:
        request = hostile(MARK)
        sb.warm(request)
        ready = _wait_ready(sb, 2)
        hosts = []
        for _ in range(4):
            outcome = sb.evaluate(request)
            assert outcome.ok, outcome.reason
            value = json.loads(outcome.feedback)
            assert value["seen"] is False, "state passed from one candidate to the next"
            hosts.append(value["host"])
        assert len(set(hosts)) == 4, hosts
        assert any(cid.startswith(hosts[0]) for cid in ready), (hosts[0], ready)
        # a different key (other limits) gets its own containers, never one made for another key
        other = sb.evaluate(hostile(MARK, memory_mb=300))
        assert other.ok and json.loads(other.feedback)["host"] not in hosts
    assert ours_of(sb) == []


def test_fresh_containers_without_pool(engine):
    from evolve.sandbox.docker import DockerSandbox

    with DockerSandbox(pool_size=0) as sb:
        first = sb.evaluate(hostile(MARK))
        second = sb.evaluate(hostile(MARK))
        assert first.ok and second.ok
        assert json.loads(second.feedback)["seen"] is False
        assert json.loads(first.feedback)["host"] != json.loads(second.feedback)["host"]
        slow = sb.evaluate(hostile(SLEEPER, timeout=1))
        assert slow.reason.startswith("timeout")
        time.sleep(0.5)
    assert ours_of(sb) == []


@pytest.mark.parametrize("warm", [True, False], ids=["runner started with the container", "runner per job"])
def test_the_runner_started_ahead_scores_like_one_started_per_job(engine, tmp_path, warm):
    """With `warm_runner`, evaluate.py is imported while the container waits in the pool; what it
    prints then, an evaluator that does not import, and one that exits as it imports come out as
    they do from a runner started with the job."""
    from evolve.sandbox.docker import DockerSandbox

    os.chmod(tmp_path, 0o755)

    def problem(name: str, source: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        os.chmod(folder, 0o755)
        (folder / "evaluate.py").write_text(source)
        os.chmod(folder / "evaluate.py", 0o644)
        return folder

    printing = problem("printing", "print('imported')\n\ndef evaluate(p):\n    return {'score': 2.0}\n")
    broken = problem("broken", "def evaluate(p)\n    return {}\n")
    exiting = problem("exiting", "import os\nos._exit(7)\n")
    with DockerSandbox(pool_size=1, warm_runner=warm) as sb:
        for folder in (printing, broken, exiting):
            request = dataclasses.replace(hostile("def main():\n    return 'ok'\n"), problem_dir=str(folder))
            sb.warm(request)
        _wait_ready(sb, 3)
        time.sleep(1.0)  # the warm runners have imported (or failed to) by now
        run = lambda folder: sb.evaluate(  # noqa: E731
            dataclasses.replace(hostile("def main():\n    return 'ok'\n"), problem_dir=str(folder))
        )
        out = run(printing)
        assert out.ok and out.score == 2.0 and "imported" in out.logs, out.reason
        out = run(broken)
        assert out.reason.startswith("evaluator error") and "SyntaxError" in out.reason, out.reason
        out = run(exiting)
        assert out.reason.startswith("crash") and "exit code 7" in out.reason, out.reason
    assert ours_of(sb) == []


def test_containers_weigh_as_much_as_host_processes(engine):
    """With the cgroupfs driver each container's cgroup is made at the top of the hierarchy (a
    sibling of the host's sessions, not one share of the engine's /docker group), with its
    limits on it, and it goes with the container."""
    import docker

    from evolve.sandbox.docker import DockerSandbox

    info = docker.from_env().info()
    cgroupfs_v1 = info.get("CgroupDriver") == "cgroupfs" and str(info.get("CgroupVersion")) == "1"
    with DockerSandbox(pool_size=1) as sb, DockerSandbox(pool_size=1, own_cgroup=False) as shared:
        for box in (sb, shared):
            box.warm(hostile(MARK))
        (top,), (under,) = _wait_ready(sb, 1), _wait_ready(shared, 1)
        api = sb.api
        assert api.inspect_container(top)["HostConfig"]["CgroupParent"] == ("/" if cgroupfs_v1 else "")
        assert api.inspect_container(under)["HostConfig"]["CgroupParent"] == ""
        if cgroupfs_v1:  # the pooled containers, before they are taken (and removed)
            cpu, memory = Path("/sys/fs/cgroup/cpu") / top, Path("/sys/fs/cgroup/memory") / top
            assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "100000"  # cpus = 1
            assert int((memory / "memory.limit_in_bytes").read_text()) == 256 * 2**20
            assert (Path("/sys/fs/cgroup/cpu/docker") / under).is_dir()
        outcome = sb.evaluate(hostile(MARK))
        assert outcome.ok, outcome.reason
    assert ours_of(sb) == [] and ours_of(shared) == []
    if cgroupfs_v1:
        assert not (Path("/sys/fs/cgroup/cpu") / top).exists()


def test_top_level_cgroup_only_where_the_driver_takes_a_path():
    from evolve.sandbox.container import top_level_cgroup

    assert top_level_cgroup({"CgroupDriver": "cgroupfs", "CgroupVersion": "1"}) == "/"
    assert top_level_cgroup({"CgroupDriver": "systemd", "CgroupVersion": "2"}) is None
    assert top_level_cgroup({"CgroupDriver": "cgroupfs", "CgroupVersion": "2"}) is None
    assert top_level_cgroup({"CgroupDriver": "none"}) is None  # rootless on cgroup v1


def test_the_warm_runner_is_a_fork_of_the_bootstrap(engine):
    """No second interpreter starts in a pooled container (its CPU would come out of the running
    evaluations'): the waiting runner is the bootstrap's fork, which imported runner.py."""
    from evolve.sandbox.docker import DockerSandbox

    with DockerSandbox(pool_size=1) as sb:
        request = hostile("def main():\n    return 'ok'\n")
        sb.warm(request)
        (cid,) = _wait_ready(sb, 1)
        end = time.monotonic() + 10
        while len(processes := sb.api.top(cid, ps_args="-o pid,args")["Processes"]) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        commands = [args for _, args in processes]
        assert len(commands) == 2 and all("container_bootstrap.py" in c for c in commands), commands
        outcome = sb.evaluate(request)
        assert outcome.ok and outcome.score == 1.0, outcome.reason


PINNED = r"""
import os, time
def main():
    time.sleep(1.0)
    return sorted(os.sched_getaffinity(0))
"""


def test_cpu_pinning_gives_disjoint_cpusets(engine):
    from evolve.sandbox.docker import DockerSandbox

    with DockerSandbox(pool_size=1, cpus=[0, 1]) as sb:
        request = hostile(PINNED, pin_cpus=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(sb.evaluate, [request, request]))
        sets = [json.loads(o.feedback) for o in outcomes]
        assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
        assert all(len(s) == 1 for s in sets), sets
        assert set(sets[0]).isdisjoint(sets[1]), sets
        unpinned = sb.evaluate(hostile(PINNED))
        assert len(json.loads(unpinned.feedback)) == len(os.sched_getaffinity(0))
    # Two sandboxes (as two Ray workers would have) share the host's CPUs without overlapping.
    with DockerSandbox(pool_size=0, cpus=[0, 1]) as one, DockerSandbox(pool_size=0, cpus=[0, 1]) as two:
        request = hostile(PINNED, pin_cpus=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = [pool.submit(one.evaluate, request), pool.submit(two.evaluate, request)]
            sets = [json.loads(f.result().feedback) for f in outcomes]
        assert set(sets[0]).isdisjoint(sets[1]), sets


# -- clean-up and readiness ------------------------------------------------------------------------


def test_cleanup_removes_orphans_only(engine):
    import docker

    from evolve.sandbox.cleanup import LABEL, OWNER_LABEL, cleanup_containers, owner_token

    client = docker.from_env()
    labels = {LABEL: "1"}
    dead = client.containers.create(
        DEFAULT_IMAGE, ["true"], labels={**labels, OWNER_LABEL: f"{socket.gethostname()}:999999999:1"}
    )
    mine = client.containers.create(DEFAULT_IMAGE, ["true"], labels={**labels, OWNER_LABEL: owner_token()})
    try:
        cleanup_containers(client, orphans_only=True)
        remaining = {c.id for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"})}
        assert dead.id not in remaining
        assert mine.id in remaining
    finally:
        mine.remove(force=True)


def test_missing_image_is_a_clear_error(engine):
    from evolve.sandbox.checks import docker_ready
    from evolve.sandbox.docker import DockerSandbox

    ok, why = docker_ready()
    assert ok, why
    ok, why = docker_ready("evolve-python:no-such-tag")
    assert not ok and "not found" in why
    with DockerSandbox(pool_size=1) as sb, pytest.raises(ImageMissing, match="evolve sandbox build"):
        sb.evaluate(hostile("def main():\n    return 'ok'\n", image="evolve-python:no-such-tag"))
    assert ours_of(sb) == []


# -- a problem's own image -------------------------------------------------------------------------


def test_problem_dockerfile_is_built_once_and_used(engine, tmp_path):
    import shutil

    import docker

    from evolve.sandbox.docker import DockerSandbox
    from evolve.sandbox.images import ensure_problem_image, problem_image_tag

    folder = tmp_path / "with_image"
    shutil.copytree(HOSTILE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "Dockerfile").write_text(
        f"FROM {DEFAULT_IMAGE}\nUSER 0:0\nRUN echo target-image > /opt/evolve-target\nUSER 65534:65534\n"
    )
    problem = load_problem(folder)
    client = docker.from_env()
    tag = ensure_problem_image(problem, progress=lambda line: None)
    try:
        assert tag == problem_image_tag("hostile", folder) and tag.startswith("evolve-problem-hostile:")
        built = client.images.get(tag).id
        assert ensure_problem_image(problem, progress=lambda line: None) == tag  # cached
        assert client.images.get(tag).id == built
        (folder / "data.txt").write_text("changed inputs")
        assert problem_image_tag("hostile", folder) != tag  # a new build input, a new tag
        code = "def main():\n    return open('/opt/evolve-target').read().strip()\n"
        with DockerSandbox(pool_size=0) as sb:
            outcome = sb.evaluate(dataclasses.replace(hostile(code), problem_dir=str(folder)).on_image(tag))
        assert outcome.ok and json.loads(outcome.feedback) == "target-image", outcome.reason
    finally:
        client.images.remove(tag, force=True)


CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from evolve.sandbox.base import EvalRequest, Limits
from evolve.sandbox.docker import DockerSandbox
sb = DockerSandbox(pool_size=2)
request = EvalRequest(problem_dir={problem!r}, code="import time\ndef main():\n    time.sleep(600)\n",
                      filename="initial_program.py",
                      limits=Limits.default(timeout=300, memory_mb=256, pids_limit=32, tmpfs_mb=16))
sb.warm(request)
print(sb.instance, flush=True)
sb.evaluate(request)
"""


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_no_leak_after_ctrl_c_term_or_kill(engine, how):
    import signal
    import sys

    from evolve.sandbox.docker import cleanup_containers

    script = CHILD.format(root=str(ROOT), problem=str(HOSTILE))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    instance = child.stdout.readline().strip()
    assert instance

    def left() -> list[str]:
        return subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"label=evolve.instance={instance}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    end = time.monotonic() + 20
    while len(left()) < 2 and time.monotonic() < end:  # the evaluation's container plus the pool
        time.sleep(0.1)
    time.sleep(0.5)
    child.send_signal(getattr(signal, how))
    child.wait(timeout=30)
    if how == "SIGKILL":  # nothing ran in the child: the containers end with it, and its reaper removes them
        end = time.monotonic() + 30
        while left() and time.monotonic() < end:
            time.sleep(0.2)
        if left():
            cleanup_containers(orphans_only=True)  # what the next DockerSandbox() does at start
            raise AssertionError("the containers of a SIGKILLed owner were still there after 30 s")
    assert left() == []


def test_container_that_cannot_start_is_an_infrastructure_error(engine):
    from evolve.sandbox.docker import DockerSandbox

    if any("nvidia" in r for r in __import__("docker").from_env().info().get("Runtimes", {})):
        pytest.skip("this engine has a GPU runtime")
    with DockerSandbox(pool_size=1) as sb, pytest.raises(InfrastructureError, match="gpu"):
        sb.evaluate(hostile("def main():\n    return 'ok'\n", gpus=1))
    assert ours_of(sb) == []


def test_after_everything_no_container_of_ours(engine, sandbox):
    sandbox.close()
    assert ours(sandbox) == []
