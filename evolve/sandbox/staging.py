"""A problem folder the container's user cannot read, made readable: a staged copy to mount.

Containers run as nobody (65534) and the problem folder is bind-mounted as it is on the host, so a
folder of mode 700, or an evaluate.py of mode 600 (umask 077), failed every evaluation with
"Permission denied: '/problem/evaluate.py'". Such a folder is copied into
$TMPDIR/evolve-problems-<uid>/<name> (folders 755, files 644, 755 where the owner may execute),
and the copy is mounted instead; a folder nobody can read is mounted as it is.

The copy is no easier to reach than the original for other local users: its parent is 711 (it
cannot be listed) and its name is a keyed hash of the folder's content, under a secret only this
user can read. Copies are shared by every process of the user (each Ray worker has its own
sandbox) and reused while the content is the same; a copy unused for a week goes when another is
made. Caches and run outputs (`runs/`, `__pycache__`, ...) are left out, as from an image build.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from evolve.errors import InfrastructureError
from evolve.sandbox.images import SKIP_PARTS
from evolve.sandbox.process import NOBODY  # the containers' user (container.py runs them as NOBODY:NOBODY)

UNUSED_FOR = 7 * 24 * 3600  # a staged copy nobody used for this long is removed

_lock = threading.Lock()
_staged: dict[tuple[str, tuple], Path] = {}  # (folder, its listing) -> its copy, in this process


@dataclass(frozen=True)
class Entry:
    """One file, folder or link of a problem folder, as `os.lstat` sees it."""

    rel: str
    mode: int
    size: int
    mtime_ns: int
    uid: int
    gid: int
    link: str = ""  # a symlink's target

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.mode)

    def nobody_can_read(self) -> bool:
        """Whether uid/gid 65534 (no other groups) may read it, and enter it if a folder."""
        if self.is_link:
            return True  # what it points to is judged where it lies
        need = 0o5 if self.is_dir else 0o4
        if self.uid == NOBODY:
            bits = self.mode >> 6
        elif self.gid == NOBODY:
            bits = self.mode >> 3
        else:
            bits = self.mode
        return bits & need == need


def mountable(problem_dir: str) -> str:
    """The folder to bind-mount for `problem_dir`: itself when nobody can read all of it, else a
    staged readable copy. Raises InfrastructureError when the copy cannot be made."""
    entries = _listing(Path(problem_dir))
    if all(entry.nobody_can_read() for entry in entries):
        return problem_dir
    key = (problem_dir, tuple(entries))
    with _lock:
        copy = _staged.get(key)
        if copy is None or not copy.is_dir():
            try:
                copy = _stage(Path(problem_dir), entries)
            except OSError as exc:
                raise InfrastructureError(
                    f"the problem folder {problem_dir} is not readable by the sandbox's user (nobody), and a "
                    f"readable copy cannot be made in {_staging_root()} ({exc}): free space there, or run "
                    f"`chmod -R a+rX {problem_dir}`"
                ) from exc
            _staged[key] = copy
    try:
        os.utime(copy)  # in use: not to be pruned
    except OSError:
        pass
    return str(copy)


def _listing(folder: Path) -> list[Entry]:
    """The folder itself ("") and everything under it but caches and run outputs, in a fixed order."""
    entries = [_entry(folder, "")]
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_PARTS)
        base = Path(here)
        for name in [*dirs, *sorted(files)]:
            entries.append(_entry(base / name, (base / name).relative_to(folder).as_posix()))
    return entries


def _entry(path: Path, rel: str) -> Entry:
    st = os.lstat(path)
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
    return Entry(rel, st.st_mode, st.st_size, st.st_mtime_ns, st.st_uid, st.st_gid, link)


def _staging_root() -> Path:
    return Path(tempfile.gettempdir()) / f"evolve-problems-{os.getuid()}"


def _open_root() -> tuple[Path, bytes]:
    """This user's staging folder (mode 711, refused if someone else made it) and its secret."""
    root = _staging_root()
    root.mkdir(mode=0o711, exist_ok=True)
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise InfrastructureError(f"{root} is not a folder of this user: remove it, it is where evolve stages problems")
    os.chmod(root, 0o711)
    secret_path = root / ".secret"
    try:
        fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    secret = secret_path.read_bytes()
    if len(secret) != 32:  # a writer that died half-way; the next one starts afresh
        secret_path.unlink(missing_ok=True)
        raise OSError(f"{secret_path} was incomplete; try again")
    return root, secret


def _content_name(folder: Path, entries: list[Entry], secret: bytes) -> str:
    digest = hmac.new(secret, digestmod=hashlib.sha256)
    for entry in entries:
        digest.update(f"{entry.rel}\0{stat.S_IFMT(entry.mode)}\0{entry.mode & 0o100}\0{entry.link}\0".encode())
        if stat.S_ISREG(entry.mode):
            with open(folder / entry.rel, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()[:32]


def _stage(folder: Path, entries: list[Entry]) -> Path:
    root, secret = _open_root()
    final = root / _content_name(folder, entries, secret)
    if final.is_dir():
        return final
    _prune(root)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
    try:
        for entry in entries[1:]:
            source, target = folder / entry.rel, partial / entry.rel
            if entry.is_link:
                os.symlink(entry.link, target)
            elif entry.is_dir:
                target.mkdir(mode=0o755)
                os.chmod(target, 0o755)
            elif stat.S_ISREG(entry.mode):
                shutil.copyfile(source, target)
                os.chmod(target, 0o755 if entry.mode & 0o100 else 0o644)
        os.chmod(partial, 0o755)
        try:
            os.rename(partial, final)
        except OSError:
            if not final.is_dir():  # not another process that staged the same content first
                raise
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def _prune(root: Path) -> None:
    """Remove the copies nobody used for UNUSED_FOR seconds (and partial ones as old)."""
    now = time.time()
    for path in root.iterdir():
        try:
            if path.is_dir() and not path.is_symlink() and now - path.stat().st_mtime > UNUSED_FOR:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
