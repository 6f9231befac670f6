"""Runs sharing one PostgreSQL database from its first second: processes that make the schema at
the same moment on a fresh database all open it (an advisory lock, see evolve/store/db.py), two
`evolve run`s started together both finish, and the `postgresql://` URL that `evolve run` prints
opens in `evolve runs`, `evolve show` and `evolve report` alike (the installed driver is chosen)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from postgres_server import fresh_database, postgres_server
from sqlalchemy import inspect

from evolve.store import open_engine
from evolve.store.models import Base

ROOT = Path(__file__).resolve().parents[2]
OPEN = """
import sys
from evolve.store import open_engine
try:
    open_engine(sys.argv[1]).dispose()
except Exception as exc:
    print(type(exc).__name__, str(exc).splitlines()[0])
    sys.exit(1)
"""
PROCESSES = 4


@pytest.fixture(scope="module")
def server():
    with postgres_server() as url:
        yield url


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        env.pop(key, None)  # the offline mutator: no model is needed to start a run
    return env


def _connect(url: str):
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return psycopg2.connect(host=u.host, port=u.port, user=u.username, dbname=u.database)


def _waiting(url: str, count: int) -> None:
    """Until `count` statements of the database wait for a lock."""
    watch = _connect(url)
    watch.autocommit = True
    try:
        with watch.cursor() as cur:
            for _ in range(600):
                cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cur.fetchone()[0] >= count:
                    return
                time.sleep(0.2)
        raise AssertionError(f"{count} processes never came to wait for the schema")
    finally:
        watch.close()


def test_processes_making_the_schema_at_once_on_a_fresh_database_all_open_it(server, tmp_path):
    url = fresh_database(server, "schema_race")
    # Hold back every CREATE TABLE (they insert into pg_type) until all processes have come that
    # far, so they reach it together, as two runs started at once do on a loaded machine.
    gate = _connect(url)
    with gate.cursor() as cur:
        cur.execute("LOCK TABLE pg_catalog.pg_type IN SHARE MODE")
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN, url], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    try:
        _waiting(url, PROCESSES)
    finally:
        gate.rollback()
        gate.close()
    failed = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [f for f in failed if f] == []
    engine = open_engine(url, create=False)
    with engine.connect() as conn:
        assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
    engine.dispose()


def _evolve(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evolve.cli", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_runs_started_together_on_a_fresh_database_both_finish_and_read_back(server, tmp_path):
    url = fresh_database(server, "two_runs")
    problem = str(ROOT / "problems" / "circle_packing")
    common = ["--iterations", "2", "--sandbox", "process", "--eval-workers", "1", "--db", url]
    runs = [
        _evolve("run", problem, "--name", name, "--runs-dir", str(tmp_path / "runs"), *common, cwd=tmp_path)
        for name in ("first", "second")
    ]
    outputs = [r.communicate(timeout=400)[0] for r in runs]
    for r, out in zip(runs, outputs, strict=True):
        assert r.returncode == 0, out
    printed = {
        line.split("database: ", 1)[1].strip() for out in outputs for line in out.splitlines() if "database: " in line
    }
    assert printed == {url}  # the URL as typed, no driver named
    for args in (("runs", "--db", url), ("show", "first", "--db", url), ("report", "second", "--db", url)):
        done = subprocess.run(
            [sys.executable, "-m", "evolve.cli", *args],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (args, done.stderr)
        assert "psycopg" not in done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "runs", "--db", url, "--json"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
    ).stdout
    assert '"first"' in listed and '"second"' in listed
