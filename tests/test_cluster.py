"""`--ray-address`: a run joins an existing Ray cluster whose node has the custom resource that
the problem's evaluations ask for (a stand-in for an accelerator type); the problem folder travels
through Ray's object store and is unpacked once per node (evolve/engine/shipping.py).

Two nodes that share nothing but Ray are tests/test_cluster_nodes.py."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from evolve.engine.shipping import materialize, pack, ship
from evolve.sandbox.images import build_inputs_hash

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def ray_head():
    temp_dir = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray puts unix sockets in it
    port = _free_port()
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    started = subprocess.run(
        [
            ray,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            '--resources={"accelerator_x": 1}',
            "--include-dashboard=false",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        # Not `ray stop`: that would also stop the test session's own local instance.
        roots = [p for p in psutil.process_iter(["cmdline"]) if temp_dir in " ".join(p.info["cmdline"] or [])]
        victims = {p for root in roots for p in [root, *root.children(recursive=True)]}
        for p in victims:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(list(victims), timeout=10)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_run_on_an_existing_cluster_with_a_custom_resource(ray_head, tmp_path):
    folder = tmp_path / "accel"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder)
    toml = (folder / "problem.toml").read_text()
    (folder / "problem.toml").write_text(
        toml.replace("memory_mb = 1024", "memory_mb = 1024\nresources = { accelerator_x = 1 }")
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "RAY_ADDRESS"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "evolve.cli",
            "run",
            str(folder),
            "-n",
            "6",
            "--sandbox",
            "process",
            "--name",
            "on-cluster",
            "--ray-address",
            ray_head,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    summary = json.loads((tmp_path / "runs" / "on-cluster" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["candidates"] == 6


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_shipped_folder_unpacks_to_the_same_content_readable_by_all(ray_local, tmp_path, monkeypatch):
    folder = tmp_path / "private"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "data").mkdir()
    (folder / "data" / "run.sh").write_text("#!/bin/sh\n")
    (folder / "data" / "run.sh").chmod(0o700)
    for skipped in ("__pycache__", "runs", ".git"):  # caches and run outputs do not travel
        (folder / skipped).mkdir()
        (folder / skipped / "big.bin").write_bytes(b"x" * 1000)
    for path in [folder, *folder.rglob("*")]:  # only its owner may read it (umask 077)
        path.chmod(0o700 if path.is_dir() or path.name == "run.sh" else 0o600)
    digest, _ = pack(folder)
    assert digest == build_inputs_hash(folder)

    node_tmp = tmp_path / "node-tmp"
    node_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(node_tmp))  # this "node"'s own cache
    shipped = ship(folder)
    unpacked = materialize(shipped)
    assert unpacked == node_tmp / f"evolve-problems-{os.getuid()}" / digest
    expected = {
        rel: data for rel, data in _files(folder).items() if rel.split("/")[0] not in ("__pycache__", "runs", ".git")
    }
    assert _files(unpacked) == expected
    assert build_inputs_hash(unpacked) == digest
    # The sandbox's nobody reads it all; what its owner could run stays runnable.
    assert all(p.stat().st_mode & 0o005 == 0o005 for p in [unpacked, *unpacked.rglob("*")] if p.is_dir())
    assert all(p.stat().st_mode & 0o004 for p in unpacked.rglob("*") if p.is_file())
    assert (unpacked / "data" / "run.sh").stat().st_mode & 0o111 == 0o111
    # Once per node and digest: the folder is reused, not unpacked again.
    (unpacked / "marker").write_text("kept")
    assert materialize(ship(folder)) == unpacked and (unpacked / "marker").is_file()
