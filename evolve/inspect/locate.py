"""Resolve RUN (a run folder, a run name under ./runs/, or a database URL plus a run id or name).

Readers open the database without ever writing to it: no `create_all`, SQLite connections set
`query_only`, and every query runs in a short transaction, so the engine writing the run (SQLite in
WAL mode) is never blocked by `evolve show` or the live page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from evolve.store.db import DB_FILENAME, make_engine, sqlite_url
from evolve.store.models import Run

RUNS_ROOT = Path("runs")


class RunNotFound(Exception):
    """What the user typed names no run; the message is one line with a hint."""


@dataclass(frozen=True)
class RunRef:
    engine: Engine
    run_id: int
    name: str
    url: str
    folder: Path | None  # the run folder, where the run lives in one


def open_reader(url: str) -> Engine:
    """An engine that only reads. For SQLite the file must exist (a typo never creates one)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise RunNotFound(f"not a database URL: {url!r} (e.g. sqlite:///runs/x/evolve.db)") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            pass
        elif not Path(database).is_file():
            raise RunNotFound(f"no database file {database} (from --db {url})")
    try:
        return make_engine(url, read_only=True)
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        raise RunNotFound(f"cannot open database {url}: {exc}") from exc


def run_folders(root: Path = RUNS_ROOT) -> list[Path]:
    """Run folders under root (those holding an evolve.db), newest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / DB_FILENAME).is_file()]
    return sorted(found, key=lambda p: (p / DB_FILENAME).stat().st_mtime, reverse=True)


def _pick_run(engine: Engine, url: str, wanted: str | None, folder: Path | None) -> tuple[int, str]:
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Run.id, Run.name).order_by(Run.id)).all()
    except OperationalError as exc:
        raise RunNotFound(f"{url} is not a run database ({exc.orig})") from exc
    if not rows:
        raise RunNotFound(f"no runs in {url} yet")
    if wanted is not None:
        for run_id, name in rows:
            if name == wanted:
                return run_id, name
        if wanted.isdigit():
            for run_id, name in rows:
                if run_id == int(wanted):
                    return run_id, name
        names = ", ".join(f"{n} (id {i})" for i, n in rows[-8:])
        raise RunNotFound(f"no run named or numbered {wanted!r} in {url}; it has: {names}")
    if folder is not None:
        for run_id, name in rows:
            if name == folder.name:
                return run_id, name
    run_id, name = rows[-1]  # the newest run in this database
    return run_id, name


def locate(run: str | None, db: str | None = None, root: Path = RUNS_ROOT) -> RunRef:
    """Find the run that `run` (and `--db`) name. Raises RunNotFound with a one-line message."""
    if db:
        engine = open_reader(db)
        run_id, name = _pick_run(engine, db, run, None)
        return RunRef(engine, run_id, name, db, None)
    if not run:
        folders = run_folders(root)
        if not folders:
            raise RunNotFound(f"no RUN given and no run folders under {root}/ (give a folder, a name or --db URL)")
        run = str(folders[0])
    path = Path(run)
    candidates = []
    if path.is_file() and path.name.endswith(".db"):
        folder, db_file = path.parent, path
        candidates.append((folder, db_file))
    for folder in (path, root / run):
        if (folder / DB_FILENAME).is_file():
            candidates.append((folder, folder / DB_FILENAME))
    if not candidates:
        names = ", ".join(p.name for p in run_folders(root)[:8]) or "none"
        if path.is_dir():
            raise RunNotFound(f"{path} has no {DB_FILENAME}: not a run folder")
        raise RunNotFound(
            f"no run {run!r}: not a run folder, and no {root / run / DB_FILENAME} (runs under {root}/: {names})"
        )
    folder, db_file = candidates[0]
    url = sqlite_url(folder) if db_file.name == DB_FILENAME else f"sqlite:///{db_file.resolve()}"
    engine = open_reader(url)
    run_id, name = _pick_run(engine, url, None, folder)
    return RunRef(engine, run_id, name, url, folder)
