import os
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fast_loop import install_guard, mark_items, unit_loop  # noqa: E402  (tests/ is on the path now)


@pytest.fixture(scope="session")
def ray_local():
    import ray

    from evolve.engine.run import start_ray

    start_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def circle_packing():
    from evolve.problem import load_problem

    return load_problem(ROOT / "problems" / "circle_packing")


@pytest.fixture(scope="session")
def docker_engine():
    """A Docker engine with the evaluation image; CI fails (never skips) without one."""
    if os.environ.get("EVOLVE_SKIP_DOCKER") == "1":
        pytest.skip("EVOLVE_SKIP_DOCKER=1")
    from evolve.sandbox.checks import docker_ready

    ok, why = docker_ready()
    if not ok and "not found" in why:
        from evolve.sandbox.images import build_default_image

        build_default_image(progress=lambda line: None)
        ok, why = docker_ready()
    if not ok:
        pytest.fail(f"the Docker sandbox cannot run here: {why}")


def pytest_configure(config):
    # `-m unit`, the fast loop: whatever starts Ray, a container, a server or a run raises instead.
    if unit_loop(config):
        install_guard()


def pytest_collection_modifyitems(items):
    # A test that asks for the Docker engine (directly or through another fixture) needs Docker,
    # whether or not its file says so: `-m "not docker"` must leave it out.
    for item in items:
        if "docker_engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)
    # Every test is `unit` (pure) or `integration` (starts something): tests/fast_loop.py's rule.
    mark_items(items)
