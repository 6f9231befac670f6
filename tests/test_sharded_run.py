"""A whole run over two population shards: `evolve run` on a problem.toml with `[population]
shards = 2`, real HTTP through litellm to a scripted model on loopback, the process sandbox, a real
local Ray instance and SQLite; then a resume."""

import re

from sqlalchemy import func, select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.kinds import EventKind, ProgramStatus
from evolve.mutate.llm import ModelSpec
from evolve.problem import load_problem
from evolve.store import Event, LLMCall, Program, Run, open_engine, session_factory

from model_server import ModelServer, Reply, current_program

PROGRAM = """# EVOLVE-BLOCK-START
X = 1.0
# EVOLVE-BLOCK-END


def value():
    return X
"""
EVALUATE = """from evolve_eval import run_candidate


def evaluate(program_path):
    return {"score": float(run_candidate(program_path, "value", timeout=20))}
"""
TOML = """name = "sharded"
program = "program.py"
[evaluation]
timeout = 30
[population]
islands = 4
shards = 2
migration_interval = 4
"""
X_LINE = re.compile(r"^X = ([-+\d.e]+)$", re.MULTILINE)


def grow_x(request: dict, index: int) -> Reply:
    """X of the current program times a factor over 1 (each answer distinct): every child improves."""
    match = X_LINE.search(current_program(request))
    if match is None:
        return Reply("I have no idea.")
    new = f"X = {float(match.group(1)) * (1.01 + index * 1e-4):.9g}"
    return Reply(f"Grow X.\n<<<<<<< SEARCH\n{match.group(0)}\n=======\n{new}\n>>>>>>> REPLACE\n")


def _facts(db_url: str) -> dict:
    Session = session_factory(open_engine(db_url, create=False))
    with Session() as s:
        run = s.scalars(select(Run)).one()
        calls = s.scalars(select(LLMCall.iteration).where(LLMCall.run_id == run.id, LLMCall.retried.is_(False))).all()
        islands = s.scalars(select(Program.island).where(Program.run_id == run.id, Program.iteration > 0)).all()
        best = s.scalar(
            select(func.max(Program.score)).where(Program.run_id == run.id, Program.status == ProgramStatus.OK)
        )
        migrations = s.scalars(
            select(Event.data).where(Event.run_id == run.id, Event.kind == EventKind.MIGRATION)
        ).all()
        return {
            "iterations": sorted(calls),
            "islands": set(islands),
            "stored_best": run.best_score,
            "max_score": best,
            "moves": [move for data in migrations for move in data["moves"]],
        }


def test_a_run_over_two_shards_then_its_resume(ray_local, tmp_path):
    folder = tmp_path / "sharded"
    folder.mkdir()
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluate.py").write_text(EVALUATE)
    (folder / "problem.toml").write_text(TOML)
    problem = load_problem(folder)
    with ModelServer(grow_x) as server:
        model = (ModelSpec("openai/grow", api_base=server.url, max_attempts=2, backoff=0.05),)
        options = RunOptions(iterations=24, eval_workers=2, llm_concurrency=4, seed=5, sandbox="process", models=model)
        first = evolve_run(problem, options, runs_root=tmp_path / "runs", run_name="two-shards")
        facts = _facts(first.db_url)
        assert first.status == "finished" and first.progress.completed == 24, first.stop_reason
        assert facts["iterations"] == list(range(1, 25))  # numbered run-wide: each once
        assert facts["islands"] == {0, 1, 2, 3}  # children on both shards' islands (island % 2)
        # Ring migration: island i's best went to island i + 1, which the other shard owns.
        assert any((dst - src) % 4 == 1 for src, dst, _ in facts["moves"]), facts["moves"]
        # The run's best is the best of every shard: in the result, in the run's row, in best/.
        assert first.best is not None and first.best.score == facts["max_score"] == facts["stored_best"]
        assert (first.run_dir / "best" / "program.py").read_text() == first.best.code

        more = RunOptions(iterations=36, eval_workers=2, llm_concurrency=4, seed=5, sandbox="process", models=model)
        again = evolve_run(problem, more, runs_root=tmp_path / "runs", run_name="two-shards", resume=True)
    facts = _facts(again.db_url)
    assert again.status == "finished" and again.progress.completed == 36, again.stop_reason
    assert facts["iterations"] == list(range(1, 37))  # the resume numbered on from the store
    assert again.best is not None and again.best.score == facts["max_score"] > first.best.score
