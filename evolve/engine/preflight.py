"""What is checked before a run starts, so that a bad option, name, database or address is one
line naming the value, and nothing is half-made (no empty run folder, no run row)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

from evolve.engine.options import RunOptions
from evolve.errors import OptionError, RunError

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_POSITIVE = {"max_seconds", "max_cost", "llm_concurrency", "eval_workers", "model_timeout"}
_NOT_NEGATIVE = {"iterations", "infra_wait", "model_retries"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_options(options: RunOptions) -> None:
    for f in fields(options):
        value = getattr(options, f.name)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if value != value or value in (float("inf"), float("-inf")):
            raise OptionError(f"{_flag(f.name)} {value}: must be a finite number")
        if f.name in _POSITIVE and value <= 0:
            raise OptionError(f"{_flag(f.name)} {value:g}: must be more than 0")
        if f.name in _NOT_NEGATIVE and value < 0:
            raise OptionError(f"{_flag(f.name)} {value:g}: must be 0 or more")
    for model in options.models:
        if not model.weight > 0 or model.weight == float("inf"):
            raise OptionError(f"--model {model.name}@{model.weight:g}: a model's weight must be more than 0")


def check_run_name(name: str) -> None:
    """A run name is a folder name under --runs-dir: no path separators, no '..'."""
    if not RUN_NAME.fullmatch(name) or ".." in name:
        raise OptionError(
            f"--name {name!r}: use letters, digits, '.', '_' or '-' (no '/' or '..'), starting with a "
            "letter or digit, at most 200 characters"
        )


def check_ray_address(address: str | None, timeout: float = 3.0) -> None:
    """Fail in seconds, not after Ray's minutes of retries, when nothing listens at host:port."""
    if not address or address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise OptionError(f"--ray-address {address!r}: expected host:port (e.g. 10.0.0.5:6379) or 'auto'")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RunError(
            f"--ray-address {address}: nothing answers there ({exc.strerror or exc}); start the head "
            "with `ray start --head` or check the address"
        ) from None


def check_store(url: str, run_name: str, resume: bool) -> None:
    """The database opens, and the run name is free (or, on resume, there)."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

    from evolve.store import Run, open_engine

    shown = _hide_password(url)
    try:
        make_url(url)
    except ArgumentError:
        raise OptionError(
            f"--db {shown!r}: not a database URL (e.g. postgresql://user@host/db or sqlite:///path/evolve.db)"
        ) from None
    try:
        engine = open_engine(url)
    except NoSuchModuleError as exc:
        raise OptionError(f"--db {shown!r}: unknown database kind ({exc})") from None
    except ImportError as exc:
        raise OptionError(
            f"--db {shown!r}: its driver is not installed ({exc}); for PostgreSQL: pip install 'evolve[postgres]'"
        ) from None
    except (OperationalError, SQLAlchemyError) as exc:
        raise RunError(f"--db {shown}: the database does not open: {_first_line(exc)}") from None
    try:
        with engine.connect() as conn:
            taken = conn.execute(select(Run.id).where(Run.name == run_name)).first() is not None
    except SQLAlchemyError as exc:
        raise RunError(f"--db {shown}: the database does not answer: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    if taken and not resume:
        raise RunError(
            f"run {run_name!r} already exists in {shown}: choose another --name, or continue it with "
            "evolve run --resume"
        )


class RunLock:
    """Held for a run's whole life: a second `evolve run` of the same run folder (the same --name
    twice at once, or a resume of a run still going) is refused instead of racing it."""

    FILENAME = ".lock"

    def __init__(self, run_dir: Path):
        self.path = run_dir / self.FILENAME
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunError(
                f"{self.path.parent}: this run is in use by evolve (pid {holder}); wait for it to "
                "stop, or choose another --name"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock; the file stays (removing it would race)
            self.fd = None


@contextmanager
def new_run_folder(run_dir: Path) -> Iterator[Path]:
    """Make the run's folder; if the start fails inside the block, remove it again when it was ours."""
    existed = run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{run_dir}: cannot make the run folder ({exc.strerror or exc})") from None
    try:
        yield run_dir
    except BaseException:
        if not existed:
            from evolve.logs import stop_log_file

            stop_log_file()  # the log was in the folder: a later record must not recreate or miss it
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]
