"""Can the Docker sandbox run here? One clear line when it cannot."""

from __future__ import annotations

import os

from evolve.sandbox.images import DEFAULT_IMAGE


def docker_ready(image: str = DEFAULT_IMAGE, client=None) -> tuple[bool, str]:
    """(True, what answered) when the engine answers and `image` exists; else (False, why + hint)."""
    try:
        import docker
    except ImportError:
        return False, "the `docker` Python package is not installed (pip install docker), or use --sandbox process"
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = client or docker.from_env(timeout=10)
        client.ping()
        version = client.version().get("Version", "?")
    except Exception as exc:  # the SDK raises several types for "nothing answers"
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return False, (f"no Docker engine answers at {where} ({first}): start one (`dockerd`), "
                       f"or use --sandbox process, which does not isolate")
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        if image == DEFAULT_IMAGE:
            return False, f"image {image} not found: run `evolve sandbox build`"
        return False, f"image {image} not found: build it (`docker build -t {image} ...`) or run `evolve sandbox build`"
    except Exception as exc:
        return False, f"cannot inspect image {image}: {exc}"
    return True, f"Docker {version} at {where}, image {image}"
