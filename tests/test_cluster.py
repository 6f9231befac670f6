"""`--ray-address`: a run joins an existing Ray cluster whose node has the custom resource that
the problem's evaluations ask for (a stand-in for an accelerator type)."""

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
