"""Can the Docker sandbox run here? One clear line when it cannot."""

from __future__ import annotations

from evolve.errors import InfrastructureError
from evolve.problem import DEFAULT_IMAGE
from evolve.sandbox.faults import engine_address, engine_faults


def docker_ready(image: str = DEFAULT_IMAGE, client=None) -> tuple[bool, str]:
    """(True, what answered) when the engine answers and `image` exists; else (False, why + hint).

    The why is the message of the DockerUnavailable or ImageMissing an evaluation would raise."""
    try:
        import docker
    except ImportError:
        return False, "the `docker` Python package is not installed (pip install docker), or use --sandbox process"
    try:
        with engine_faults(client, image):
            client = client or docker.from_env(timeout=10)
            client.ping()
            version = client.version().get("Version", "?")
            client.images.get(image)
    except InfrastructureError as exc:
        return False, str(exc)
    except docker.errors.APIError as exc:  # the engine answered, but not with the image
        return False, f"cannot inspect image {image} on the Docker engine at {engine_address(client)}: {exc}"
    return True, f"Docker {version} at {engine_address(client)}, image {image}"
