"""A run killed with SIGKILL resumes from its database and finishes its iterations."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from evolve.store import LLMCall, Program, Run, open_engine, session_factory, sqlite_url
from evolve.store.liveness import effective_status

from model_server import ModelServer, Reply, good_diff

ROOT = Path(__file__).resolve().parents[1]


def _evolve(*args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "evolve.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )


def _committed(db_url):
    Session = session_factory(open_engine(db_url, create=False))
    with Session() as s:
        return {
            p.id: (p.code_hash, p.status, p.score)
            for p in s.scalars(select(Program).where(Program.status.in_(("ok", "failed"))))
        }


def test_sigkill_then_resume_keeps_every_committed_program(tmp_path):
    def slow_diffs(request, index):
        return Reply(good_diff(request, index), delay=0.4)

    run_dir = tmp_path / "runs" / "killme"
    db_url = sqlite_url(run_dir)
    with ModelServer(slow_diffs) as server:
        args = [
            "run",
            str(ROOT / "problems" / "circle_packing"),
            "--iterations",
            "24",
            "--name",
            "killme",
            "--model",
            "openai/test-model",
            "--api-base",
            server.url,
            "--sandbox",
            "process",
            "--llm-concurrency",
            "2",
            "--eval-workers",
            "1",
            "--runs-dir",
            str(tmp_path / "runs"),
        ]
        proc = _evolve(*args, cwd=tmp_path)
        deadline = time.monotonic() + 120
        before = {}
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if (run_dir / "evolve.db").exists():
                before = _committed(db_url)
                if len(before) >= 6:
                    break
            assert proc.poll() is None, proc.stdout.read()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        before = _committed(db_url)
        assert 6 <= len(before) < 25
        # The killed run's row still says running, but its heartbeat stops: a minute on, it reads
        # as interrupted in `evolve runs`.
        from datetime import timedelta

        from evolve.inspect.queries import run_rows
        from evolve.store.liveness import STALE_SECONDS

        engine = open_engine(db_url, create=False)
        with engine.connect() as conn:
            (row,) = run_rows(conn, db_url)
            beat = conn.execute(select(Run.heartbeat_at)).scalar_one()
        assert row.status == "running" and beat is not None
        assert effective_status("running", beat, beat + timedelta(seconds=STALE_SECONDS + 1)) == "interrupted"

        resumed = _evolve("run", "--resume", str(run_dir), cwd=tmp_path)
        output, _ = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, output

    after = _committed(db_url)
    for pid, row in before.items():
        assert after[pid] == row  # nothing committed before the kill was lost or changed
    Session = session_factory(open_engine(db_url, create=False))
    with Session() as s:
        calls = s.scalars(select(LLMCall)).all()
        finished = [c for c in calls if c.outcome != "child"] + s.scalars(
            select(Program).where(Program.iteration > 0, Program.status.in_(("ok", "failed")))
        ).all()
        assert len(finished) == 24  # the resumed run completed the iterations the first one lost
        iterations = [c.iteration for c in calls]
        assert len(iterations) == len(set(iterations))
    assert "resum" in output.lower() or "finished" in output
    assert (run_dir / "best").is_dir()


def test_ctrl_c_stops_cleanly(tmp_path):
    run_dir = tmp_path / "runs" / "ctrlc"
    proc = _evolve(
        "run",
        str(ROOT / "problems" / "circle_packing"),
        "--iterations",
        "5000",
        "--name",
        "ctrlc",
        "--sandbox",
        "process",
        "--runs-dir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if (run_dir / "evolve.db").exists() and len(_committed(sqlite_url(run_dir))) >= 5:
            break
        assert proc.poll() is None, proc.stdout.read()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert "stopped (interrupted by the user (Ctrl-C))" in output
    Session = session_factory(open_engine(sqlite_url(run_dir), create=False))
    with Session() as s:
        from evolve.store import Run

        run = s.scalars(select(Run)).one()
        assert run.status == "stopped" and run.finished_at is not None
        assert not s.scalars(select(Program).where(Program.status == "pending")).all()
    assert (run_dir / "summary.json").is_file()
