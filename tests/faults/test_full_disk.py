"""A full disk is one line naming what filled and the `evolve run --resume` command; the log that
cannot be written fails quietly; resuming once there is space loses nothing (issue 22, part 4)."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_input import PROBLEM, evolve

FREE_KB = 350  # what the small disk leaves for the run: its database fills it within a few iterations


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MB tmpfs, nearly full; skipped where this test may not mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip() or done.returncode}")
    try:
        (mount / "filler").write_bytes(b"\0" * ((8192 - FREE_KB) * 1024))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _row(db: Path) -> tuple[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        status = conn.execute("select status from runs").fetchone()[0]
        return status, conn.execute("select count(*) from programs").fetchone()[0]


def test_a_full_disk_is_one_line_and_the_run_resumes(small_disk, tmp_path):
    run_dir = small_disk / "runs" / "full"
    out = evolve(
        "run", str(PROBLEM), "-n", "40", "--sandbox", "process", "--runs-dir", str(small_disk / "runs"),
        "--name", "full", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "Logging error" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: No space left on device: the database ({run_dir / 'evolve.db'}) could not be written; "
        f"free some space and continue with evolve run --resume {run_dir}"
    ], out.stderr
    assert len(out.stderr.splitlines()) <= 4, out.stderr  # that line and the process sandbox's warning
    # Marked interrupted where the database could still take it; here it could not, and the row
    # reads as interrupted once its heartbeat is stale (evolve/store/liveness.py).
    status, kept = _row(run_dir / "evolve.db")
    assert status in ("interrupted", "running") and kept >= 1
    (small_disk / "filler").unlink()
    again = evolve("run", "--resume", str(run_dir), "--sandbox", "process", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    status, total = _row(run_dir / "evolve.db")
    assert status == "finished" and total >= kept  # nothing committed before the full disk was lost


def test_a_log_that_cannot_be_written_fails_quietly(tmp_path):
    """/dev/full answers every write with ENOSPC: the run's log handler drops its records and
    says nothing on stderr (logging's default is a traceback per record)."""
    script = (
        "import logging, sys\n"
        "from evolve import logs\n"
        "logs.configure(False)\n"
        "logs.log_to_file('/dev/full')\n"
        "for i in range(50):\n"
        "    logging.getLogger('evolve.engine.driver').error('record %s', i)\n"
        "assert logs.current_log_file() is None, 'a log that cannot be written is not offered'\n"
        "print('done')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout == "done\n", out.stderr
    assert out.stderr == ""


def _raised(make):
    try:
        make()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def test_a_full_disk_is_recognised_however_it_is_wrapped(tmp_path):
    import errno

    import sqlalchemy

    from evolve.diskfull import Full, filled

    def no_space():
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "best.py"))

    def wrapped():
        try:
            no_space()
        except OSError as exc:
            raise RuntimeError("writing the outputs failed") from exc

    def sqlite_full():  # how SQLAlchemy reports SQLite's SQLITE_FULL
        orig = sqlite3.OperationalError("database or disk is full")
        raise sqlalchemy.exc.OperationalError("COMMIT", {}, orig)

    assert filled(_raised(wrapped)) == Full("the disk", str(tmp_path / "best.py"))
    assert filled(_raised(sqlite_full)) == Full("the database")
    assert filled(_raised(lambda: sqlite3.connect(":memory:").execute("select * from nowhere"))) is None
    assert filled(_raised(lambda: (tmp_path / "missing").read_text())) is None
