"""Finding a run to resume: from its folder, or by its name inside a --db store."""

from __future__ import annotations

from pathlib import Path

from evolve.engine.leftovers import refuse_unstarted
from evolve.errors import RunError
from evolve.problem import Problem, load_problem
from evolve.store import DB_FILENAME, Run, RunConfig, open_engine, session_factory, sqlite_url


def load_run_for_resume(target: str, db_url: str | None) -> tuple[Problem, RunConfig, str, str, Path]:
    """Find a run to resume: a run folder, or a run name inside --db. Returns what evolve_run needs."""
    path = Path(target)
    if db_url is None:
        if not (path / DB_FILENAME).is_file():
            refuse_unstarted(path)
            raise RunError(f"{target}: no {DB_FILENAME} here (give the run folder, e.g. runs/<run>)")
        db_url = sqlite_url(path)
    engine = open_engine(db_url, create=False)
    with session_factory(engine)() as s:
        from sqlalchemy import select

        run = s.scalars(select(Run).where(Run.name == path.name)).first() or (
            s.scalars(select(Run).order_by(Run.id.desc())).first() if db_url == sqlite_url(path) else None
        )
        if run is None:
            refuse_unstarted(path)
            raise RunError(f"{target}: no run of that name in {db_url}")
        config = RunConfig.from_json(run.config)
        name, problem_path = run.name, run.problem_path
    engine.dispose()
    problem = load_problem(problem_path)
    return problem, config, name, db_url, path if (path / DB_FILENAME).is_file() else Path("runs") / name
