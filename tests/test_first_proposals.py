"""A new run's first proposals go out before Ray starts (evolve/engine/first_proposals.py): the
model server sees its first request while the run's process has no Ray daemon yet; those answers
become children of the initial program; a Ctrl-C during the start loses none of them."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
from sqlalchemy import select

from evolve.store import LLMCall, Program, Run, open_engine, session_factory, sqlite_url

from model_server import ModelServer, Reply, good_diff

ROOT = Path(__file__).resolve().parents[1]
RAY_DAEMONS = ("gcs_server", "raylet")


def _launch(tmp_path: Path, url: str, name: str, iterations: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "evolve.cli", "-v", "run", str(ROOT / "problems" / "circle_packing")]
    cmd += ["-n", str(iterations), "-m", "openai/test-model", "--api-base", url, "--sandbox", "process"]
    cmd += ["--llm-concurrency", "3", "--eval-workers", "1", "--runs-dir", str(tmp_path / "runs"), "--name", name]
    return subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


class Watcher:
    """A scripted model that notes, at each request, the Ray daemons the run's process has started."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.proc: subprocess.Popen | None = None
        self.daemons_seen: list[set[str]] = []
        self.first = threading.Event()

    def ray_daemons(self) -> set[str]:
        assert self.proc is not None
        try:
            names = {child.name() for child in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.Error:
            return set()
        return {name for name in names if name.startswith(RAY_DAEMONS)}

    def __call__(self, request: dict, index: int) -> Reply:
        self.daemons_seen.append(self.ray_daemons())
        self.first.set()
        return Reply(good_diff(request, index), delay=self.delay)


def _rows(run_dir: Path):
    Session = session_factory(open_engine(sqlite_url(run_dir), create=False))
    with Session() as s:
        run = s.scalars(select(Run)).one()
        calls = s.scalars(select(LLMCall).order_by(LLMCall.iteration)).all()
        programs = s.scalars(select(Program).order_by(Program.iteration)).all()
        s.expunge_all()
        return run, calls, programs


def test_the_first_request_goes_out_before_ray_and_its_answer_is_a_child_of_the_initial_program(tmp_path):
    watcher = Watcher()
    with ModelServer(watcher) as server:
        watcher.proc = _launch(tmp_path, server.url, "early", iterations=5)
        output, _ = watcher.proc.communicate(timeout=300)
    assert watcher.proc.returncode == 0, output[-3000:]
    assert watcher.daemons_seen and watcher.daemons_seen[0] == set(), watcher.daemons_seen
    assert any(seen for seen in watcher.daemons_seen[3:]), "later requests come once Ray runs"
    launched = output.index("first model call launched (3 before Ray starts)")
    assert launched < output.index("ray started") < output.index("population actor opened the run")

    run, calls, programs = _rows(tmp_path / "runs" / "early")
    assert run.status == "finished"
    initial = programs[0]
    assert initial.iteration == 0 and initial.status == "ok"
    assert sorted(c.iteration for c in calls if not c.retried) == [1, 2, 3, 4, 5]
    first_children = [p for p in programs if p.iteration in (1, 2, 3)]
    assert first_children and all(p.parent_id == initial.id for p in first_children)
    assert all(p.status in ("ok", "failed") for p in first_children)
    # Their prompts showed the initial program without a score: none was measured yet.
    first_prompts = [c.prompt for c in calls if c.iteration in (1, 2, 3)]
    assert all("score not measured yet" in prompt for prompt in first_prompts)


def test_ctrl_c_during_the_start_keeps_the_first_answers(tmp_path):
    watcher = Watcher(delay=0.5)
    with ModelServer(watcher) as server:
        watcher.proc = proc = _launch(tmp_path, server.url, "early-stop", iterations=50)
        assert watcher.first.wait(120), "no model request"
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C, while Ray is not up yet
        output, _ = proc.communicate(timeout=300)
    assert watcher.daemons_seen[0] == set()
    assert proc.returncode == 0, output[-3000:]
    assert "interrupted by the user (Ctrl-C)" in output

    run, calls, programs = _rows(tmp_path / "runs" / "early-stop")
    assert run.status == "stopped" and run.finished_at is not None
    # The answers paid for during the start are stored, and their children evaluated; no more calls.
    assert sorted(c.iteration for c in calls) == [1, 2, 3]
    assert len(server.calls) == 3
    assert all(p.status in ("ok", "failed") for p in programs)
    assert {p.parent_id for p in programs if p.iteration > 0} <= {programs[0].id}
