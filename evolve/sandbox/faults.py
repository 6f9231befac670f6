"""When the Docker engine, not the candidate, is at fault: the SDK's errors as InfrastructureError.

The engine not answering (a socket nobody listens on, a daemon that stopped mid-evaluation, a read
that times out) is `DockerUnavailable`; an image the engine does not have is `ImageMissing`. Both
say what broke and what to do, in one line, so the engine can pause the run instead of failing
every remaining candidate. An engine that answers with an error of its own (an `APIError`) is
left for the caller to judge.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from evolve.errors import DockerUnavailable, ImageMissing
from evolve.problem import DEFAULT_IMAGE

DEFAULT_ADDRESS = "unix:///var/run/docker.sock"


def engine_address(client=None) -> str:
    """Where the engine is expected: the client's socket (or `client` itself, an address), else
    DOCKER_HOST, else the default."""
    if isinstance(client, str):
        return client
    api = getattr(client, "api", client)
    socket_path = getattr(getattr(api, "_custom_adapter", None), "socket_path", None)
    if socket_path:
        return "unix://" + socket_path.removeprefix("unix://")
    base_url = getattr(api, "base_url", "")
    if base_url and not base_url.startswith("http+docker://"):
        return base_url
    return os.environ.get("DOCKER_HOST", DEFAULT_ADDRESS)


def cause_of(exc: BaseException) -> str:
    """The innermost reason, in a few words ("No such file or directory", "Connection refused"):
    requests and urllib3 wrap the socket's error two levels deep, the SDK one more."""
    inner = exc
    for _ in range(5):
        nested = next((arg for arg in inner.args if isinstance(arg, BaseException)), inner.__cause__)
        if nested is None:
            break
        inner = nested
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    text = str(inner).strip()
    return text.splitlines()[0][:200] if text else type(inner).__name__


def is_engine_gone(exc: BaseException) -> bool:
    """Whether this exception means the engine does not answer (rather than answered no)."""
    import docker
    import requests

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)):
        return True
    # The SDK's own errors that are not the engine's answer ("Error while fetching server API version").
    return isinstance(exc, docker.errors.DockerException) and not isinstance(exc, docker.errors.APIError)


def unavailable(exc: BaseException, client=None) -> DockerUnavailable:
    return DockerUnavailable(
        f"the Docker engine at {engine_address(client)} does not answer ({cause_of(exc)}): "
        f"start dockerd (or use --sandbox process, which does not isolate)"
    )


def image_hint(image: str) -> str:
    if image == DEFAULT_IMAGE:
        return "run `evolve sandbox build`"
    return f"build it (`docker build -t {image} ...`) or pull it on this node, or run `evolve sandbox build`"


def image_missing(image: str, client=None) -> ImageMissing:
    return ImageMissing(
        f"image {image} not found on the Docker engine at {engine_address(client)}: {image_hint(image)}"
    )


@contextmanager
def engine_faults(client=None, image: str | None = None) -> Iterator[None]:
    """Raise DockerUnavailable / ImageMissing for what the SDK raises when the engine does not
    answer or has no `image`; every other exception passes unchanged."""
    import docker

    try:
        yield
    except docker.errors.ImageNotFound:
        if image is None:
            raise
        raise image_missing(image, client) from None
    except Exception as exc:
        if is_engine_gone(exc):
            raise unavailable(exc, client) from exc
        raise
