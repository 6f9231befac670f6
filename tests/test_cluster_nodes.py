"""A cluster whose nodes share nothing but Ray, on loopback.

The head node runs here; the second node runs in its own mount namespace, where the checkout, the
editable install's source and /tmp (the problem folder, the run folder, the head's Ray session)
are hidden under empty tmpfs mounts. It runs evolve from a wheel installed into a virtualenv, as a
cluster node that had only `pip install evolve` would, and keeps its temporary files (its problem
cache) in a folder of its own. The second node shares this machine's Docker engine: the engine
mounts what node 2 unpacked in its own cache, which the test checks is there.

Each test starts its own two nodes and stops only their processes (by the head's temp folder and
node 2's process tree), and removes only its own containers and images.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import venv
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import evolve
from evolve.sandbox.images import build_inputs_hash

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = Path(evolve.__file__).resolve().parents[1]  # where this interpreter's evolve lives
NODE_RESOURCE = "node2"  # node 2's custom resource, so a probe can be pinned there
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray() -> str:
    return shutil.which("ray") or str(Path(sys.executable).parent / "ray")


def _outside_tmp() -> Path:
    """A folder node 2 still sees: not under /tmp (hidden there), not in the checkout."""
    for candidate in (Path("/var/tmp"), Path.home()):
        if candidate.is_dir() and not candidate.is_relative_to("/tmp") and not candidate.is_relative_to(ROOT):
            return candidate
    pytest.skip("no folder outside /tmp for the second node's virtualenv")


@pytest.fixture(scope="module")
def node_venv():
    """A virtualenv with evolve installed from a wheel of this tree (its `bin/` folder)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("the second node needs `unshare --mount` as root")
    where = Path(tempfile.mkdtemp(prefix="evolve-node-", dir=_outside_tmp()))
    try:
        source = where / "source"
        shutil.copytree(
            ROOT,
            source,
            ignore=shutil.ignore_patterns(
                ".git", "build", "runs", "*.egg-info", "__pycache__", ".*_cache", "test-artifacts"
            ),
        )
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where / "dist"), str(source)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert build.returncode == 0, build.stderr
        shutil.rmtree(source)
        (wheel,) = (where / "dist").glob("evolve-*.whl")
        env_dir = where / "venv"
        venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
        install = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(env_dir / "bin" / "python"),
                "install",
                "--no-deps",
                "--force-reinstall",
                "-q",
                str(wheel),
            ],
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert install.returncode == 0, install.stderr
        yield env_dir / "bin"
    finally:
        shutil.rmtree(where, ignore_errors=True)


@dataclass
class Cluster:
    address: str
    head_dir: str  # the head's Ray temp folder: its processes carry it on their command lines
    node2: subprocess.Popen  # `ray start --block` of node 2, in its own mount namespace
    node2_tmp: Path  # node 2's TMPDIR: its problem cache is under it
    node2_id: str
    head_id: str
    venv: Path  # node 2's virtualenv
    node2_sees: dict  # path -> whether node 2 sees it
    node2_evolve: str  # where node 2's workers import evolve from

    def node2_processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.node2.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def kill_node2(self, raylet_only: bool = False) -> None:
        """The second machine dies: every process of node 2 at once (or only its raylet, and the
        rest of the node goes down after it)."""
        victims = self.node2_processes()
        if raylet_only:
            victims = [p for p in victims if _name(p) == "raylet"]
            assert victims, "node 2 has no raylet"
        for p in victims:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(victims, timeout=10)


PROBE = r"""
import json, os, sys, tempfile, time
import ray
ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False)
deadline = time.monotonic() + 120
while len([n for n in ray.nodes() if n["Alive"]]) < 2:
    assert time.monotonic() < deadline, "the second node did not join"
    time.sleep(0.5)

@ray.remote(num_cpus=0, resources={sys.argv[2]: 0.001})
def on_node2(paths):
    import evolve
    return {
        "node": ray.get_runtime_context().get_node_id(),
        "sees": {p: os.path.exists(p) for p in paths},
        "evolve": evolve.__file__,
        "tmp": tempfile.gettempdir(),
    }

report = ray.get(on_node2.remote(json.loads(sys.argv[3])))
report["head"] = ray.get_runtime_context().get_node_id()
print(json.dumps(report))
"""


def _driver_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("RAY_ADDRESS",)}
    env["RAY_AUTH_MODE"] = "token"  # Ray 2.60's clusters take only token-authenticated drivers
    return env


def _die_with_the_test() -> None:
    """In the child before exec: SIGTERM when the test process dies without its teardown (killed
    itself), so `ray start --block` stops its node rather than outlive the test."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, f"the head did not listen on {port}: " + log.read_text()[-3000:]
            time.sleep(0.5)


def _stop_head(temp_dir: str) -> None:
    # Not `ray stop`: that would also stop other suites' Ray instances on this machine.
    roots = [p for p in psutil.process_iter(["cmdline"]) if temp_dir in " ".join(p.info["cmdline"] or [])]
    victims = {p for root in roots for p in [root, *root.children(recursive=True)]}
    for p in victims:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(list(victims), timeout=10)
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture()
def cluster(node_venv, tmp_path):
    """A head here (1 CPU) and a second node (1 CPU) that sees neither the checkout nor /tmp."""
    head_dir = tempfile.mkdtemp(prefix="rn", dir="/tmp")  # short: Ray puts unix sockets in it
    port = _free_port()
    node2_tmp = Path(tempfile.mkdtemp(prefix="node2-tmp-", dir=node_venv.parents[1]))
    head = node2 = None
    try:
        head = subprocess.Popen(
            [
                _ray(),
                "start",
                "--head",
                f"--port={port}",
                "--num-cpus=1",
                "--include-dashboard=false",
                f"--temp-dir={head_dir}",
                "--disable-usage-stats",
                "--block",
            ],
            stdout=open(tmp_path / "head.log", "w"),  # noqa: SIM115 (the node outlives this block)
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_the_test,
        )
        _wait_for_port(port, head, tmp_path / "head.log")
        hidden = [str(p) for p in sorted({ROOT, CHECKOUT}) if not p.is_relative_to("/tmp")] + ["/tmp"]
        mounts = " && ".join(f"mount -t tmpfs tmpfs {p}" for p in hidden)
        resources = json.dumps({NODE_RESOURCE: 1})
        node2 = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "bash",
                "-c",
                f"{mounts} && exec {node_venv / 'python'} -m ray.scripts.scripts start --address=127.0.0.1:{port} --num-cpus=1 "
                f"--resources='{resources}' --disable-usage-stats --block",
            ],
            env={
                **{k: v for k, v in _driver_env().items() if k != "PYTHONPATH"},
                "TMPDIR": str(node2_tmp),
                "PATH": f"{node_venv}:{os.environ.get('PATH', '')}",
            },
            stdout=open(node2_tmp.parent / "node2.log", "w"),  # noqa: SIM115 (the node outlives this block)
            stderr=subprocess.STDOUT,
            cwd=node2_tmp,
            preexec_fn=_die_with_the_test,
        )
        # Their mount points exist on node 2 (empty): what must not is what lies in them.
        looked_at = [str(ROOT / "pyproject.toml"), str(CHECKOUT / "evolve" / "__init__.py"), str(tmp_path)]
        probe = subprocess.run(
            [sys.executable, "-c", PROBE, f"127.0.0.1:{port}", NODE_RESOURCE, json.dumps(looked_at)],
            env=_driver_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert probe.returncode == 0, probe.stderr[-3000:] + (node2_tmp.parent / "node2.log").read_text()[-2000:]
        report = json.loads(probe.stdout.strip().splitlines()[-1])
        yield Cluster(
            f"127.0.0.1:{port}",
            head_dir,
            node2,
            node2_tmp,
            report["node"],
            report["head"],
            node_venv.parent,
            report["sees"],
            report["evolve"],
        )
    finally:
        if node2 is not None:
            left = Cluster("", head_dir, node2, node2_tmp, "", "", node_venv.parent, {}, "").node2_processes()
            node2.send_signal(signal.SIGTERM)  # `ray start --block` stops its node and leaves
            try:
                node2.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            for p in left:
                try:
                    p.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(left, timeout=10)
        _stop_head(head_dir)
        if head is not None:
            head.wait(timeout=30)
        shutil.rmtree(node2_tmp, ignore_errors=True)


def _problem(tmp_path: Path, name: str = "packing", cpus: int = 1) -> Path:
    folder = tmp_path / name
    shutil.copytree(ROOT / "problems" / "circle_packing", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "problem.toml"
    text = toml.read_text().replace('name = "circle_packing"', f'name = "{name}"')
    toml.write_text(text.replace("cpus = 1", f"cpus = {cpus}"))
    return folder


def _run(cluster: Cluster, folder: Path, name: str, *args: str) -> subprocess.Popen:
    # Without RAY_AUTH_MODE: the run switches to token mode itself when ~/.ray/auth_token exists.
    env = {k: v for k, v in _driver_env().items() if k != "RAY_AUTH_MODE"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evolve.cli",
            "run",
            str(folder),
            "--name",
            name,
            "--ray-address",
            cluster.address,
            *args,
        ],
        cwd=folder.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(run: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    out, err = run.communicate(timeout=timeout)
    return run.returncode, out + err


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _our_containers(run_name: str) -> list:
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(all=True, sparse=True, filters={"label": "evolve.run"})
        return [c for c in found if c.attrs.get("Labels", {}).get("evolve.run", "").startswith(f"{run_name}-")]
    finally:
        client.close()


def test_the_second_node_sees_neither_the_checkout_nor_the_drivers_files(cluster, tmp_path):
    assert cluster.node2_id != cluster.head_id
    assert not any(cluster.node2_sees.values()), cluster.node2_sees
    # Its workers run evolve from the wheel in its virtualenv.
    assert cluster.node2_evolve.startswith(str(cluster.venv)), cluster.node2_evolve


@pytest.mark.parametrize("sandbox", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_run_spreads_over_both_nodes_with_the_scores_of_one_machine(cluster, tmp_path, sandbox, request):
    if sandbox == "docker":
        request.getfixturevalue("docker_engine")
    folder = _problem(tmp_path)
    name = f"spread-{sandbox}-{uuid.uuid4().hex[:6]}"
    code, output = _finish(_run(cluster, folder, name, "-n", "10", "--sandbox", sandbox, "--seed", "1"))
    assert code == 0, output[-3000:]
    db = tmp_path / "runs" / name / "evolve.db"
    evaluations = _rows(
        db,
        "select p.iteration, p.code, e.ok, e.score, e.node, e.exit_reason from evaluations e "
        "join programs p on p.id = e.program_id where e.kind = 'train'",
    )
    nodes = {row[4] for row in evaluations}
    assert nodes == {cluster.head_id, cluster.node2_id}, nodes
    (initial,) = [row for row in evaluations if row[0] == 0]
    assert initial[2] and abs(initial[3] - 1.80038) < 1e-4, initial
    # What node 2 scored, this machine scores the same from the original folder.
    from evolve.problem import load_problem
    from evolve.sandbox import make_sandbox
    from evolve.sandbox.base import EvalRequest

    problem = load_problem(folder)
    here = make_sandbox(sandbox, **({"pool_size": 0} if sandbox == "docker" else {"warn": False}))
    try:
        on_node2 = [row for row in evaluations if row[4] == cluster.node2_id]
        for _, program, ok, score, _, reason in on_node2:
            local = here.evaluate(EvalRequest.for_problem(problem, program))
            assert (local.ok, local.score) == (bool(ok), score), (reason, local.reason)
    finally:
        here.close()
    # Node 2 evaluated against its own unpacked copy of the folder, not the driver's.
    assert (cluster.node2_tmp / f"evolve-problems-{os.getuid()}" / build_inputs_hash(folder)).is_dir()
    assert not [row for row in evaluations if "does not exist" in (row[5] or "")]
    if sandbox == "docker":
        assert not _our_containers(name)


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


@pytest.mark.parametrize("raylet_only", [False, True], ids=["every-process", "its-raylet"])
def test_killing_the_second_node_mid_run_loses_no_candidate(cluster, tmp_path, raylet_only):
    folder = _problem(tmp_path)
    name = f"kill-{uuid.uuid4().hex[:6]}"
    run = _run(cluster, folder, name, "-n", "14", "--sandbox", "process", "--seed", "2", "--eval-workers", "2")
    try:
        # Kill node 2 while it runs a candidate: the candidate's own process (started by
        # run_candidate through candidate_bootstrap.py) is in node 2's process tree only then.
        deadline = time.monotonic() + 300
        while not any("candidate_bootstrap.py" in " ".join(p.cmdline()) for p in _alive(cluster.node2_processes())):
            assert run.poll() is None, run.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "node 2 never ran a candidate"
            time.sleep(0.02)
        cluster.kill_node2(raylet_only)
        code, output = _finish(run)
    finally:
        if run.poll() is None:
            run.kill()
    assert code == 0, output[-3000:]
    db = tmp_path / "runs" / name / "evolve.db"
    summary = json.loads((tmp_path / "runs" / name / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["candidates"] == 14, summary
    programs = _rows(db, "select id, status, error from programs")
    assert not [p for p in programs if p[1] in ("pending", "interrupted")], programs
    blamed = [p for p in programs if p[1] == "failed" and any(w in (p[2] or "") for w in ("node", "worker", "ray"))]
    assert not blamed, blamed
    events = _rows(db, "select kind, message from events")
    paused = any(kind == "pause" and "node" in message for kind, message in events)
    # With every process killed, the candidate on node 2 is lost and the run pauses for it; with
    # only the raylet killed, its worker may still hand the result back first (then nothing was lost).
    assert paused or raylet_only, events
    if paused:  # the candidate that was on node 2 was evaluated again, on the head
        last = _rows(db, "select node from evaluations order by id desc limit 1")
        assert last == [(cluster.head_id,)]


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in processes:
        try:
            p.cmdline()
            alive.append(p)
        except psutil.Error:
            continue
    return alive


def test_a_placement_no_node_can_hold_is_refused_at_start(cluster, tmp_path):
    # Two 1-CPU nodes: the cluster has 2 CPUs, but no node can run one evaluation that asks for 2.
    folder = _problem(tmp_path, "wide", cpus=2)
    code, output = _finish(_run(cluster, folder, "wide", "-n", "4", "--sandbox", "process"), timeout=300)
    assert code == 1, output[-3000:]
    errors = [line for line in output.strip().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no node of this Ray cluster can run one evaluation" in errors[0], output
    assert "evaluation.cpus = 2" in errors[0] and "the closest has 1 CPU" in errors[0], errors[0]
    assert not (tmp_path / "runs" / "wide").exists()


def test_a_run_whose_only_capable_node_is_lost_says_so_and_stops_with_the_cause(cluster, tmp_path):
    # Only node 2 has the custom resource the problem asks for: once it is gone, no evaluation can
    # be placed anywhere. The run must not wait for ever, nor blame the candidates.
    folder = _problem(tmp_path, "special")
    toml = folder / "problem.toml"
    toml.write_text(toml.read_text().replace("cpus = 1\n", f"cpus = 1\nresources = {{ {NODE_RESOURCE} = 1 }}\n", 1))
    name = f"lost-{uuid.uuid4().hex[:6]}"
    run = _run(cluster, folder, name, "-n", "30", "--sandbox", "process", "--seed", "3", "--infra-wait", "45")
    try:
        deadline = time.monotonic() + 300
        while not _rows_or_none(
            tmp_path / "runs" / name / "evolve.db", "select 1 from evaluations where program_id > 1"
        ):
            assert run.poll() is None, run.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no child was evaluated on node 2"
            time.sleep(0.2)
        cluster.kill_node2()
        code, output = _finish(run, timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert code != 0, output[-3000:]
    db = tmp_path / "runs" / name / "evolve.db"
    ((status, reason),) = _rows(db, "select status, stop_reason from runs")
    assert status == "failed" and "cannot place evaluations" in reason and f"1 {NODE_RESOURCE}" in reason, reason
    events = _rows(db, "select kind from events")
    assert ("pause",) in events, events  # the node's loss paused the run first
    failed = _rows(db, "select id, error from programs where status = 'failed'")
    blamed = [p for p in failed if any(w in (p[1] or "") for w in ("node", "worker", "ray", "place"))]
    assert not blamed, blamed  # a candidate may fail on its own (overlapping circles), never for the node


def test_a_node_that_stays_broken_is_avoided_not_paused_for(cluster, tmp_path):
    # Node 2 is alive but cannot evaluate: its problem cache's path is taken by a file, so every
    # evaluation sent there fails around the candidate (the machinery's fault). The head works.
    cache = cluster.node2_tmp / "evolve-problems-0"
    shutil.rmtree(cache, ignore_errors=True)
    cache.write_text("not a folder")
    folder = _problem(tmp_path, "avoid")
    name = f"avoid-{uuid.uuid4().hex[:6]}"
    run = _run(cluster, folder, name, "-n", "16", "--sandbox", "process", "--seed", "4", "--eval-workers", "2")
    code, output = _finish(run, timeout=600)
    assert code == 0, output[-3000:]
    db = tmp_path / "runs" / name / "evolve.db"
    summary = json.loads((tmp_path / "runs" / name / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["candidates"] == 16, summary
    nodes = {node for (node,) in _rows(db, "select node from evaluations")}
    assert nodes == {cluster.head_id}, nodes  # every evaluation that counted ran on the head
    failed = _rows(db, "select id, error from programs where status = 'failed'")
    assert not [p for p in failed if "unpack" in (p[1] or "") or "node" in (p[1] or "")], failed
    kinds = [kind for (kind,) in _rows(db, "select kind from events")]
    # Once the head has worked, node 2's faults steer evaluations away instead of pausing the
    # run for each (at most the pause before the head's first evaluation, which is the initial one).
    assert kinds.count("pause") <= 1, kinds
    if any(kind == "node_avoided" for kind in kinds):
        avoided = _rows(db, "select message from events where kind = 'node_avoided'")
        assert all(cluster.node2_id[:12] in m for (m,) in avoided), avoided


def _rows_or_none(db: Path, sql: str) -> list[tuple] | None:
    try:
        return _rows(db, sql) if db.exists() else None
    except sqlite3.OperationalError:  # the run has not made its tables yet
        return None


NODE_IMAGE = r"""
import json, sys
import ray
from evolve.engine.shipping import ship
ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False)
shipped = ship(sys.argv[3])

@ray.remote(num_cpus=0, resources={sys.argv[2]: 0.001})
def prepare(shipped, image):
    import docker
    from evolve.engine.shipping import ensure_image, materialize
    from evolve.sandbox.images import image_exists
    client = docker.from_env()
    before = image_exists(image, client)
    folder = materialize(shipped)
    ensure_image(image, folder, client)
    return {"before": before, "after": image_exists(image, client), "folder": str(folder)}

print(json.dumps(ray.get(prepare.remote(shipped, sys.argv[4]))))
"""


@pytest.mark.docker
def test_a_node_builds_the_problems_image_from_its_own_copy(cluster, tmp_path, docker_engine):
    from evolve.sandbox.images import problem_image_tag

    folder = _problem(tmp_path, "imaged")
    marker = uuid.uuid4().hex
    (folder / "Dockerfile").write_text(f"FROM evolve-python:latest\nLABEL evolve.test={marker}\n")
    tag = problem_image_tag("imaged", folder)
    try:
        out = subprocess.run(
            [sys.executable, "-c", NODE_IMAGE, cluster.address, NODE_RESOURCE, str(folder), tag],
            env=_driver_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert report == {
            "before": False,
            "after": True,
            "folder": str(cluster.node2_tmp / f"evolve-problems-{os.getuid()}" / build_inputs_hash(folder)),
        }, report
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
