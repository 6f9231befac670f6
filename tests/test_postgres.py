"""The store on PostgreSQL: a real server that the test starts, a run, a resume."""

import pytest
from postgres_server import postgres_server
from sqlalchemy import func, select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.store import LLMCall, Program, Run, open_engine, session_factory


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_server() as server:
        yield server.replace("postgresql://", "postgresql+psycopg2://") + "/postgres"


def test_run_and_resume_on_postgres(ray_local, circle_packing, postgres_url, tmp_path):
    options = RunOptions(iterations=8, eval_workers=2, sandbox="process", seed=5)
    first = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="pg-run", db_url=postgres_url)
    assert first.status == "finished" and first.progress.completed == 8
    resumed = evolve_run(
        circle_packing,
        RunOptions(iterations=12, eval_workers=2, sandbox="process", seed=5),
        runs_root=tmp_path,
        run_name="pg-run",
        db_url=postgres_url,
        resume=True,
    )
    assert resumed.progress.completed == 12
    Session = session_factory(open_engine(postgres_url, create=False))
    with Session() as s:
        run = s.scalars(select(Run).where(Run.name == "pg-run")).one()
        assert run.status == "finished" and run.mutator == "offline"
        ok = s.scalars(select(Program).where(Program.run_id == run.id, Program.status == "ok")).all()
        assert ok and all(isinstance(p.metrics, dict) and "sum_radii" in p.metrics for p in ok)
        assert run.best_score == max(p.score for p in ok)
        calls = s.scalar(select(func.count()).select_from(LLMCall).where(LLMCall.run_id == run.id))
        children = s.scalar(
            select(func.count()).select_from(Program).where(Program.run_id == run.id, Program.iteration > 0)
        )
        assert calls == 12 and children <= 12
