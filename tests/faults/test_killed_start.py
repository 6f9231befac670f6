"""A driver killed with SIGKILL at any moment of its start leaves a run that resumes, or none:
before its run row is committed, `--resume` says in one line that nothing was committed and the
next start of that name clears the folder; after it, `--resume` finishes the run. The killed
drivers' Ray session folders are removed by the next driver (by owner: only evolve's, only dead
ones), and a SQLite database never exists without its tables."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from evolve.engine.leftovers import SESSION_OWNER, mark_session, remove_dead_sessions, unstarted
from evolve.sandbox.owners import owner_token
from evolve.store import open_engine, sqlite_url

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = ROOT / "problems" / "circle_packing"
START = ("--sandbox", "process", "--eval-workers", "1")


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        env.pop(key, None)
    return env


def evolve(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_and_kill_at(milestone: str, name: str, cwd: Path) -> int:
    """Start `evolve -v run` and SIGKILL the driver (alone, as `kill -9 PID` does) as soon as it
    logs `milestone`; its pid."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "evolve.cli", "-v", "run", str(PROBLEM), *START, "-n", "2", "--name", name],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if milestone in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen[-20:])
    return proc.pid


def sessions_of(pid: int) -> list[Path]:
    marked = Path("/tmp/ray").glob(f"session_2*/{SESSION_OWNER}")
    return [m.parent for m in marked if f":{pid}:" in m.read_text()]


def test_a_start_killed_before_its_first_commit_leaves_no_run_and_its_name_starts_again(tmp_path):
    for milestone, name in (("store checked", "early"), ("ray started", "later")):
        pid = start_and_kill_at(milestone, name, tmp_path)
        folder = tmp_path / "runs" / name
        assert unstarted(folder)
        if (folder / "evolve.db").exists():  # a database made whole or not at all
            tables = sqlite3.connect(folder / "evolve.db").execute("SELECT name FROM sqlite_master").fetchall()
            assert ("runs",) in tables
        resumed = evolve("run", "--resume", str(folder), cwd=tmp_path)
        assert resumed.returncode == 1
        (line,) = resumed.stderr.strip().splitlines()
        assert "before anything was committed" in line and f"--name {name}" in line
        if milestone == "ray started":
            killed_sessions = sessions_of(pid)
            assert killed_sessions, "the killed driver's Ray session was not signed"
    again = evolve(
        "run", str(PROBLEM), "-n", "1", "--sandbox", "process", "--eval-workers", "1", "--name", "later", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert not unstarted(tmp_path / "runs" / "later")
    # The next driver removed the killed one's session folder (its Ray processes are gone).
    assert [s for s in killed_sessions if s.exists()] == []


def test_a_start_killed_after_its_first_commit_resumes(tmp_path):
    start_and_kill_at("population actor opened the run", "opened", tmp_path)
    folder = tmp_path / "runs" / "opened"
    assert not unstarted(folder)
    resumed = evolve("run", "--resume", str(folder), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    engine = open_engine(sqlite_url(folder), create=False)
    with engine.connect() as conn:
        status, count = conn.exec_driver_sql(
            "SELECT status, (SELECT count(*) FROM programs WHERE iteration > 0) FROM runs"
        ).one()
    engine.dispose()
    assert status == "finished" and count >= 1


def test_only_evolves_dead_sessions_are_removed(tmp_path):
    ray_root = tmp_path / "ray"
    dead, alive, foreign, busy = (ray_root / f"session_2026-01-0{i}_00-00-00_000000_{i}" for i in (1, 2, 3, 4))
    for session in (dead, alive, foreign, busy):
        (session / "logs").mkdir(parents=True)
    gone = subprocess.Popen(["sleep", "60"])
    token = owner_token(gone.pid)  # read while it runs: its start time names it
    gone.kill()
    gone.wait()
    (dead / SESSION_OWNER).write_text(token)
    (busy / SESSION_OWNER).write_text(token)  # its driver is gone, but a Ray process still names it
    ray_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--session_dir={busy}"])
    # Popen may return (vfork) before the kernel has set the new program's arguments: wait until
    # /proc shows them, as it always does for a Ray process a later driver finds.
    cmdline = Path(f"/proc/{ray_process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while str(busy).encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    mark_session(alive)  # this process: alive
    try:
        assert remove_dead_sessions(ray_root) == [dead]
    finally:
        ray_process.kill()
        ray_process.wait()
    assert not dead.exists() and alive.exists() and foreign.exists() and busy.exists()
    assert remove_dead_sessions(ray_root) == [busy]  # once that process has ended
