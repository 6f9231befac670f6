"""Evaluation images: the default `evolve-python:latest` and a problem's own Dockerfile.

The default image holds python3, numpy and scipy and runs as `nobody` (uid 65534). Where a
registry answers it is built from `evaluators/Dockerfile` (python:3.11-slim + pip); where none
does, the same image is built offline from a Debian rootfs: `debootstrap --variant=minbase` with
Debian's python3, numpy and scipy from the machine's own apt mirror, then `docker import`.

A problem folder with a `Dockerfile` gets its own image, built once and tagged by a hash of the
folder's build inputs: `evolve-problem-<name>:<hash12>`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from evolve.errors import InfrastructureError
from evolve.problem import DEFAULT_IMAGE
from evolve.resources import evaluators_dir
from evolve.sandbox.environment import dockerfile_env_lines
from evolve.sandbox.faults import engine_faults

DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3", "python3-numpy", "python3-scipy", "python-is-python3")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
REGISTRY_HOST = ("registry-1.docker.io", 443)
# Docker image config applied on `docker import` (the rootfs has none of its own).
IMPORT_CHANGES = (
    *dockerfile_env_lines(),
    'LABEL evolve.image="default"',
    "WORKDIR /tmp",
    "USER 65534:65534",
    'CMD ["python3"]',
)
SKIP_PARTS = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", "runs"}

Progress = Callable[[str], None]

log = logging.getLogger(__name__)


class ImageError(InfrastructureError):
    """An image could not be built; the message says which step failed and why."""


def _log_progress(line: str) -> None:
    """The default `progress`: the log (the CLI passes its own, which a person sees)."""
    log.info("%s", line)


def _client():
    import docker

    with engine_faults():
        return docker.from_env(timeout=600)


def image_exists(tag: str, client=None) -> bool:
    """Whether the engine has `tag`; DockerUnavailable when it does not answer."""
    import docker

    client = client or _client()
    with engine_faults(client):
        try:
            client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False


def registry_reachable(timeout: float = 3.0) -> bool:
    """Whether Docker Hub answers at all (a TCP connect; no pull is attempted here)."""
    try:
        with socket.create_connection(REGISTRY_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def debian_mirror(
    sources: tuple[str, ...] = ("/etc/apt/sources.list",), sources_dir: str = "/etc/apt/sources.list.d"
) -> str:
    """The Debian mirror this machine's apt uses (deb822 `.sources` or one-line `.list`)."""
    files = [Path(p) for p in sources]
    folder = Path(sources_dir)
    if folder.is_dir():
        files += sorted(p for p in folder.iterdir() if p.suffix in (".list", ".sources"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#"):
                continue
            match = re.match(r"URIs:\s*(\S+)", line) or re.match(r"deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
            if match:
                uri = match.group(1).rstrip("/")
                if uri.endswith("/debian") or ("debian" in uri and "security" not in uri):
                    return uri
    return DEFAULT_MIRROR


def _run(cmd: list[str], progress: Progress, **kwargs) -> None:
    progress("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise ImageError(f"`{' '.join(cmd[:3])} ...` failed (exit {proc.returncode}):\n" + "\n".join(tail))


def build_from_registry(tag: str = DEFAULT_IMAGE, progress: Progress = _log_progress) -> str:
    """`docker build` evaluators/Dockerfile (needs Docker Hub for python:3.11-slim)."""
    _run(["docker", "build", "-t", tag, "-f", str(evaluators_dir() / "Dockerfile"), str(evaluators_dir())], progress)
    return tag


def build_from_debian(
    tag: str = DEFAULT_IMAGE, progress: Progress = _log_progress, mirror: str | None = None, suite: str = DEBIAN_SUITE
) -> str:
    """Offline path: debootstrap a minimal Debian with python3/numpy/scipy and `docker import` it."""
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed (apt-get install debootstrap), and no registry answers")
    if os.geteuid() != 0:
        raise ImageError("building the image from a Debian rootfs needs root (debootstrap); run it with sudo")
    mirror = mirror or debian_mirror()
    workdir = Path(tempfile.mkdtemp(prefix="evolve-rootfs-"))
    rootfs = workdir / "rootfs"
    try:
        _run(
            ["debootstrap", "--variant=minbase", "--include=" + ",".join(DEBIAN_PACKAGES), suite, str(rootfs), mirror],
            progress,
        )
        # Drop what an evaluation never needs: package caches and lists, docs.
        for sub in (
            "var/cache/apt/archives",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/locale",
        ):
            target = rootfs / sub
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    elif child.name not in ("lock", "partial"):
                        child.unlink(missing_ok=True)
        progress(f"importing the rootfs as {tag}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        cmd = ["docker", "import"]
        for change in IMPORT_CHANGES:
            cmd += ["--change", change]
        cmd += ["-", tag]
        imp = subprocess.run(cmd, stdin=tar.stdout, capture_output=True, text=True)
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
        if tar.returncode != 0 or imp.returncode != 0:
            raise ImageError(f"docker import failed: {imp.stderr.strip()[-1000:]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return tag


def build_default_image(
    force: bool = False, progress: Progress = _log_progress, tag: str = DEFAULT_IMAGE, offline: bool | None = None
) -> str:
    """Build `evolve-python:latest` unless it exists (or `force`). Returns the tag.

    `offline=None` decides by whether Docker Hub answers; a registry build that fails falls back
    to the Debian rootfs.
    """
    if not force and image_exists(tag):
        progress(f"{tag} already exists (use --force to rebuild)")
        return tag
    if offline is None:
        offline = not registry_reachable()
    if not offline:
        try:
            progress(f"building {tag} from evaluators/Dockerfile (python:3.11-slim)")
            return build_from_registry(tag, progress)
        except ImageError as exc:
            progress(f"registry build failed, building from a Debian rootfs instead: {exc}")
    else:
        progress(f"no registry answers: building {tag} from a Debian rootfs (debootstrap, a few minutes)")
    build_from_debian(tag, progress)
    check_image(tag)
    progress(f"built {tag}")
    return tag


def check_image(tag: str = DEFAULT_IMAGE) -> None:
    """Smoke-test an image: python3 imports numpy and scipy, as an unprivileged user."""
    proc = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "python3",
            tag,
            "-c",
            "import os, numpy, scipy; assert os.getuid() != 0, 'runs as root'; print('ok')",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0 or "ok" not in proc.stdout:
        raise ImageError(f"image {tag} fails its smoke test: {(proc.stderr or proc.stdout).strip()[-500:]}")


# -- a problem's own image ---------------------------------------------------------------------


def build_inputs_hash(folder: str | Path) -> str:
    """A hash of the folder's files (names and contents), caches and run outputs aside.

    `.dockerignore` is deliberately not applied: matching Docker's rules exactly (per-segment
    globs, `**`, `!` exceptions) is easy to get subtly wrong, and a wrong guess reuses a stale
    image. Hashing a little more than the build sends only costs an extra rebuild."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in SKIP_PARTS for part in rel.parts) or not path.is_file():
            continue
        digest.update(rel.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def problem_image_tag(name: str, folder: str | Path) -> str:
    safe = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "problem"
    return f"evolve-problem-{safe}:{build_inputs_hash(folder)[:12]}"


def ensure_problem_image(problem, progress: Progress = _log_progress, force: bool = False) -> str:
    """The image a problem's evaluations run in.

    With a `Dockerfile` in the folder: build it once (cached by the hash of the folder's build
    inputs) and return `evolve-problem-<name>:<hash12>`. Without: the problem's configured image
    (`evaluation.image`, by default evolve-python:latest), built first if it is the default one.
    """
    root = Path(problem.root)
    dockerfile = root / "Dockerfile"
    if not dockerfile.is_file():
        image = problem.config.evaluation.image
        if image == DEFAULT_IMAGE and not image_exists(image):
            build_default_image(progress=progress)
        return image
    tag = problem_image_tag(problem.name, root)
    if not force and image_exists(tag):
        return tag
    if re.search(rf"^\s*FROM\s+{re.escape(DEFAULT_IMAGE)}\b", dockerfile.read_text(), re.M | re.I) and not image_exists(
        DEFAULT_IMAGE
    ):
        build_default_image(progress=progress)
    progress(f"building {tag} from {dockerfile}")
    _run(["docker", "build", "-t", tag, "--label", f"evolve.problem={problem.name}", str(root)], progress)
    return tag
