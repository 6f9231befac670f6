"""The built wheel is a working tool from any directory: package data, not a source checkout.

The wheel is installed with --no-deps into a fresh virtualenv that sees this machine's packages
(ray, litellm... are not downloaded again), so what is tested is exactly what the wheel carries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# What the tool cannot work without, as the wheel must carry it.
PACKAGE_DATA = [
    "evolve/prompts/diff.j2",
    "evolve/prompts/full.j2",
    "evolve/evaluators/runner.py",
    "evolve/evaluators/confine.py",
    "evolve/evaluators/Dockerfile",
    "evolve/evaluators/evolve_results.py",
    "evolve/evaluators/openevolve/evaluation_result.py",
    "evolve/evaluators/shinka/core/__init__.py",
    "evolve/peers/shinka.py",
    "evolve/templates/minimal/problem.toml",
    "evolve/problems/circle_packing/problem.toml",
    "evolve/problems/circle_packing/evaluate.py",
    "evolve/engine/driver.py",
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel path, the venv's `evolve` executable)."""
    where = tmp_path_factory.mktemp("wheel")
    # From a clean copy: setuptools reuses a source tree's build/ folder, where stale files would hide.
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
    (wheel,) = (where / "dist").glob("evolve-*.whl")
    env_dir = where / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # --force-reinstall: the venv sees this machine's packages, where evolve may be installed
    # (editable) at the same version, which pip would otherwise take as already satisfied.
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
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
    assert (env_dir / "bin" / "evolve").is_file(), install.stdout + install.stderr
    return wheel, env_dir / "bin" / "evolve"


def _evolve(executable: Path, *args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "PYTHONPATH"}
    return subprocess.run([str(executable), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_wheel_carries_the_package_data(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in PACKAGE_DATA if name not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_installed_tool_imports_from_the_venv_not_the_checkout(installed, tmp_path):
    _, executable = installed
    python = executable.parent / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import evolve, evolve.resources as r; "
            "print(evolve.__file__); print(r.prompts_dir()); print(r.evaluators_dir())",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    for line in out.stdout.split():
        assert str(executable.parents[1]) in line and str(ROOT) not in line, out.stdout
    version = _evolve(executable, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("evolve "), version.stderr


@pytest.mark.parametrize("sandbox", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_check_and_a_short_run_from_an_unrelated_directory(installed, tmp_path, sandbox, request):
    if sandbox == "docker":
        request.getfixturevalue("docker_engine")
    _, executable = installed
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    # `evolve new --from` takes the shipped example from the wheel, not from a checkout.
    new = _evolve(executable, "new", "packing", "--from", "circle_packing", "--dir", str(elsewhere), cwd=elsewhere)
    assert new.returncode == 0, new.stdout + new.stderr
    folder = elsewhere / "packing"
    assert (folder / "problem.toml").is_file()

    check = _evolve(executable, "check", str(folder), "--sandbox", sandbox, "--json", cwd=elsewhere)
    assert check.returncode == 0, check.stdout + check.stderr
    assert abs(json.loads(check.stdout)["score"] - 1.80038) < 1e-4

    run = _evolve(
        executable,
        "run",
        str(folder),
        "--iterations",
        "5",
        "--sandbox",
        sandbox,
        "--seed",
        "1",
        "--runs-dir",
        str(elsewhere / "runs"),
        "--name",
        "wheel-run",
        cwd=elsewhere,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((elsewhere / "runs" / "wheel-run" / "summary.json").read_text())
    assert summary["candidates"] == 5 and summary["best_score"] >= summary["initial_score"]
    assert summary["evaluated"] >= 1
    shutil.rmtree(elsewhere / "runs")
