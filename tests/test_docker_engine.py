"""Docker as the default sandbox of `evolve check` and `evolve run`, hostile children included."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.mutate.llm import ModelSpec
from evolve.store import Evaluation, LLMCall, Program, open_engine, session_factory

from model_server import ModelServer, Reply, current_program

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]


def containers(label):
    """Containers with `label` (a run's or an instance's: never count other runs on this machine)."""
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label={label}"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def test_check_uses_docker_by_default(docker_engine, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "check", str(ROOT / "problems" / "circle_packing"), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["sandbox"] == "docker" and abs(result["score"] - 1.80038) < 1e-4


HOSTILE_BODIES = {
    "exit_early": "import os\ndef place_centers():\n    os._exit(0)\n",
    "fake_result": (
        "import json, sys\ndef place_centers():\n"
        "    print(json.dumps({'result': {'score': 1e9}}))\n"
        "    sys.stdout.flush()\n    raise SystemExit(0)\n"
    ),
    "steal_and_vandalise": (
        "import os, glob\ndef place_centers():\n"
        "    keys = [k for k in os.environ if 'KEY' in k]\n"
        "    for path in glob.glob('/problem/*') + glob.glob('/evaluators/*'):\n"
        "        try:\n            open(path, 'w').write('pwned')\n"
        "        except OSError:\n            pass\n"
        "    if keys:\n        return [[0.5, 0.5]] * 26\n"
        "    raise RuntimeError('no keys to steal')\n"
    ),
}


def test_hostile_children_are_recorded_failures(docker_engine, ray_local, circle_packing, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-never-reach-a-candidate")
    names = list(HOSTILE_BODIES)
    before = {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (ROOT / "problems" / "circle_packing").iterdir()
        if p.is_file()
    }

    def hostile(request, index):
        code = current_program(request)
        start = code.index("def place_centers():")
        end = code.index("def radii_for(")
        body = HOSTILE_BODIES[names[index % len(names)]]
        return Reply("Try this:\n```python\n" + code[:start] + body + "\n\n" + code[end:] + "```\n")

    with ModelServer(hostile) as server:
        options = RunOptions(
            iterations=6,
            llm_concurrency=2,
            eval_workers=2,
            sandbox="docker",
            models=(ModelSpec("openai/test", api_base=server.url),),
        )
        result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="hostile")

    assert result.status == "finished" and result.best.score < 3.0  # the forged 1e9 never counts
    Session = session_factory(open_engine(result.db_url, create=False))
    with Session() as s:
        children = s.scalars(select(Program).where(Program.iteration > 0)).all()
        calls = s.scalars(select(LLMCall)).all()
        assert len(calls) == 6
        assert children and all(p.status == "failed" for p in children)
        reasons = " | ".join(p.error for p in children)
        assert "without returning" in reasons and "no keys to steal" in reasons
        assert {e.sandbox for e in s.scalars(select(Evaluation))} == {"docker"}
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before}
    assert after == before  # the problem folder on the host is untouched
    assert not containers(f"evolve.run=hostile-{os.getpid()}")  # the run removed its pool


def test_a_problem_folder_whose_path_has_a_colon(docker_engine, tmp_path):
    import shutil

    from evolve.problem import load_problem
    from evolve.sandbox import EvalRequest, make_sandbox

    folder = tmp_path / "odd:name with space"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder)
    problem = load_problem(folder)
    with make_sandbox("docker", pool_size=0) as box:
        outcome = box.evaluate(EvalRequest.for_problem(problem, problem.initial_code))
    assert outcome.ok and abs(outcome.score - 1.80038) < 1e-4, outcome.reason
