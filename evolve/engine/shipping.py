"""What an evaluation needs on a node that has never seen the problem: its folder and its image.

A cluster's nodes share nothing but Ray, so the driver's problem folder is not a path anywhere
else. The driver packs the folder once (a tar of its files, caches and run outputs left out as
from an image build) and puts it in Ray's object store; each evaluation carries a `ShippedProblem`,
the package's digest and a reference to it, nested in a value so Ray passes the reference and not
the bytes. A worker unpacks it once per node and digest into a node-local cache,
$TMPDIR/evolve-problems-<uid>/<digest>, readable by the sandbox's `nobody`, and evaluates against
that folder. The evaluator runtime is not shipped: it is the node's own installed evolve
(`evolve.resources`), so a node needs only `pip install evolve` and Ray.

Before a node's first Docker evaluation its worker makes sure the image is there: the default
image, or the problem's own, built from the unpacked folder (the same build inputs, so the same
tag as on the driver). Two workers of one node unpack and build once: a file lock in the cache
serialises them (one for unpacking, one for building), and a finished folder appears by an
atomic rename.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolve.errors import ImageMissing, InfrastructureError
from evolve.sandbox.images import SKIP_PARTS, build_inputs_hash

log = logging.getLogger(__name__)

UNUSED_FOR = 7 * 24 * 3600  # an unpacked problem no evaluation used for this long is removed
DIGEST = re.compile(r"[0-9a-f]{64}")  # the name of an unpacked problem's folder

_unpacked: dict[str, Path] = {}  # digest -> its folder, in this worker process
_ready_images: set[tuple[str, str]] = set()  # (engine, image) this process has seen on its engine


@dataclass(frozen=True)
class ShippedProblem:
    """A problem folder in Ray's object store: its content's digest (`build_inputs_hash`) and the
    reference to its tar. A field of a value, the reference is not resolved when a task starts:
    a worker fetches the bytes only where its node has not unpacked that digest yet."""

    digest: str
    package: Any  # a ray.ObjectRef to the tar's bytes
    size: int  # bytes, for the log


# -- the driver's side ---------------------------------------------------------------------------


def _shipped_files(folder: Path) -> Iterator[tuple[Path, str]]:
    """(path, relative name) of what a package holds, in a fixed order: the folders and files
    `build_inputs_hash` reads (so the digest names exactly this content)."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in SKIP_PARTS for part in rel.parts):
            continue
        if path.is_file() or (path.is_dir() and not path.is_symlink()):
            yield path, rel.as_posix()


def pack(folder: str | Path) -> tuple[str, bytes]:
    """(digest, gzipped tar) of a problem folder: regular files and folders only (a link's target
    is read as a file), owned by nobody in particular, with fixed times and modes."""
    folder = Path(folder)
    digest = build_inputs_hash(folder)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=6) as tar:
        for path, rel in _shipped_files(folder):
            info = tarfile.TarInfo(rel)
            info.mtime = 0
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
            tar.addfile(info, io.BytesIO(data))
    return digest, buffer.getvalue()


def ship(folder: str | Path) -> ShippedProblem:
    """Pack `folder` and put it in Ray's object store, once for the run (needs `ray.init`)."""
    import ray

    digest, data = pack(folder)
    log.info("shipping the problem folder %s (%d bytes, digest %s)", folder, len(data), digest[:12])
    return ShippedProblem(digest, ray.put(data), len(data))


# -- a node's side -------------------------------------------------------------------------------


def cache_root() -> Path:
    """This user's node-local cache of problem folders (mode 711: entered, not listed, by others;
    shared with evolve.sandbox.staging's copies)."""
    root = Path(tempfile.gettempdir()) / f"evolve-problems-{os.getuid()}"
    root.mkdir(mode=0o711, exist_ok=True)
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise InfrastructureError(f"{root} is not a folder of this user: remove it, it is where evolve caches problems")
    return root


@contextmanager
def node_lock(name: str) -> Iterator[None]:
    """Held by one process of this node at a time (every worker of a node shares its cache)."""
    fd = os.open(cache_root() / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def materialize(shipped: ShippedProblem) -> Path:
    """The problem folder on this node: unpacked once per node and digest, then reused. Raises
    InfrastructureError when it cannot be fetched or written (not the candidate's fault)."""
    folder = _unpacked.get(shipped.digest)
    try:
        if folder is None or not folder.is_dir():
            folder = _unpack_once(shipped)
            _unpacked[shipped.digest] = folder
        os.utime(folder)  # in use: evolve.sandbox.staging prunes what was not used for a week
    except InfrastructureError:
        raise
    except Exception as exc:
        raise InfrastructureError(
            f"this node cannot unpack the problem folder ({type(exc).__name__}: {exc})"[:400]
        ) from exc
    return folder


def _unpack_once(shipped: ShippedProblem) -> Path:
    import ray

    root = cache_root()
    final = root / shipped.digest
    with node_lock("unpack"):
        if final.is_dir():
            return final
        _prune(root)
        data = ray.get(shipped.package)
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                _extract(tar, partial)
            _readable_by_all(partial)
            unpacked = build_inputs_hash(partial)
            if unpacked != shipped.digest:
                raise InfrastructureError(
                    f"the problem package unpacked to other content ({unpacked[:12]}, not {shipped.digest[:12]})"
                )
            os.rename(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    log.info("unpacked the problem %s into %s", shipped.digest[:12], final)
    return final


def _prune(root: Path) -> None:
    """Remove unpacked problems no evaluation used for UNUSED_FOR seconds (each use touches its
    folder), and partial ones as old; called under the unpack lock, when a new one arrives."""
    now = time.time()
    for path in root.iterdir():
        if not (DIGEST.fullmatch(path.name) or path.name.startswith(".partial-")):
            continue
        try:
            if path.is_dir() and not path.is_symlink() and now - path.stat().st_mtime > UNUSED_FOR:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Plain files and folders inside `into`, nothing else (Python's "data" filter where it has one)."""
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in member.name.split("/"):
            raise InfrastructureError(f"the problem package holds {member.name!r}, which a package never holds")
    if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
        tar.extractall(into, filter="data")
    else:  # pragma: no cover - older 3.11 releases
        tar.extractall(into)


def _readable_by_all(folder: Path) -> None:
    """Folders 755, files 644 (755 where the owner may execute): the sandbox runs as nobody."""
    for here, _dirs, files in os.walk(folder):
        os.chmod(here, 0o755)
        for name in files:
            path = Path(here) / name
            os.chmod(path, 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644)


def ensure_image(image: str, problem_dir: Path, client) -> None:
    """Make sure this node's Docker engine (`client`'s) has `image` before its first evaluation:
    the default image is built if missing, a problem's own from its unpacked folder (a Dockerfile
    there gives the same tag as on the driver). Once per process; once per node under a lock."""
    from evolve.sandbox.faults import engine_address, image_missing
    from evolve.sandbox.images import image_exists

    key = (engine_address(client), image)
    if key in _ready_images:
        return
    if not image_exists(image, client):
        with node_lock("image-build"):
            if not image_exists(image, client):
                _build_here(image, problem_dir)
        if not image_exists(image, client):
            raise image_missing(image, client)
    _ready_images.add(key)


def _build_here(image: str, problem_dir: Path) -> None:
    import ray

    from evolve.problem import load_problem
    from evolve.sandbox.images import ensure_problem_image

    node = ray.get_runtime_context().get_node_id()[:12]
    log.warning("image %s is not on node %s: building it there (minutes for the default image)", image, node)
    try:
        problem = load_problem(problem_dir)
    except Exception as exc:  # the driver loaded the same folder: this is not the user's to fix
        raise ImageMissing(f"image {image} is not on node {node}, and its problem folder does not load: {exc}") from exc
    built = ensure_problem_image(problem, progress=lambda line: log.info("node %s: %s", node, line))
    if built != image:
        raise ImageMissing(f"image {image} is not on node {node}; its problem folder builds {built} instead")
    log.warning("built image %s on node %s", image, node)


def forget_images() -> None:
    """After an infrastructure fault: check the images again (the engine may have lost them)."""
    _ready_images.clear()
