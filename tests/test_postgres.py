"""The store on PostgreSQL: a real server that the test starts, a run, a resume."""

import os
import shutil
import socket
import subprocess
import tempfile
from glob import glob
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.store import LLMCall, Program, Run, open_engine, session_factory


def _pg_bin() -> Path | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    bin_dir = _pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (.ci/run installs it)")
        pytest.skip("PostgreSQL is not installed here")
    pytest.importorskip("psycopg2")
    # Not under pytest's tmp (mode 700, root's): the server runs as the postgres user.
    data = Path(tempfile.mkdtemp(prefix="evolve-pg-")) / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(data.parent, "postgres", "postgres")
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_postgres,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data.parent / "log"),
            "-o",
            f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(data.parent, ignore_errors=True)


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
