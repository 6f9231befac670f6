"""A two-objective problem run end to end, offline (the built-in mutator), in the process sandbox
with real SQLite and local Ray: the run ends with a front of several programs that
`evolve top RUN --front` lists, each one non-dominated among everything the run evaluated."""

import json
from pathlib import Path

from typer.testing import CliRunner

from evolve.cli import app
from evolve.engine.options import RunOptions
from evolve.engine.population_actor import PopulationActor
from evolve.engine.run import evolve_run
from evolve.inspect.front import run_front
from evolve.inspect.locate import locate
from evolve.mutate.prompt import ProblemView, build_messages
from evolve.mutate.views import ProgramView
from evolve.population.pareto import dominates
from evolve.problem import load_problem
from evolve.store.run_config import RunConfig

# This checkout's templates (an editable install of another checkout would otherwise answer).
REPO_PROMPTS = str(Path(__file__).resolve().parents[1] / "prompts")

PROGRAM = """# Two knobs: quality is their sum, cost grows with the square of each (b costs twice as much).

# EVOLVE-BLOCK-START
A = 0.5
B = 0.5
# EVOLVE-BLOCK-END


def knobs():
    return A, B
"""
EVALUATE = """from evolve_eval import CandidateError, run_candidate


def evaluate(program_path):
    try:
        a, b = run_candidate(program_path, "knobs", timeout=20)
    except CandidateError as exc:
        return {"error": str(exc)}
    a, b = min(max(float(a), 0.0), 2.0), min(max(float(b), 0.0), 2.0)
    quality, cost = a + b, a * a + 2 * b * b
    return {"score": quality - cost, "quality": quality, "cost": cost}
"""
TOML = """name = "knobs"
program = "program.py"

[evaluation]
timeout = 30

[population]
islands = 1
front_size = 6

[objectives]
quality = "maximize"
cost = "minimize"
"""


def test_a_two_objective_run_ends_with_a_front_listed_by_top_front(ray_local, tmp_path):
    folder = tmp_path / "knobs"
    folder.mkdir()
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluate.py").write_text(EVALUATE)
    (folder / "problem.toml").write_text(TOML)
    options = RunOptions(iterations=24, llm_concurrency=2, eval_workers=2, seed=3, sandbox="process")
    result = evolve_run(load_problem(folder), options, runs_root=tmp_path / "runs", run_name="knobs")

    ref = locate(str(result.run_dir), None)
    found = run_front(ref.engine, ref.run_id)
    assert [o.name for o in found.objectives] == ["quality", "cost"]
    front = found.front
    assert len(front) >= 3, [p.values for p in found.points]
    # Each front program is non-dominated among all the run evaluated; every other is dominated.
    as_oriented = {p.id: (p.values[0], -p.values[1]) for p in found.points}
    for p in found.points:
        beaten = any(dominates(as_oriented[q.id], as_oriented[p.id]) for q in found.points)
        assert beaten != p.on_front or any(q.id < p.id and as_oriented[q.id] == as_oriented[p.id] for q in found.points)

    shown = CliRunner().invoke(app, ["top", str(result.run_dir), "--front", "--json"])
    assert shown.exit_code == 0, shown.output
    listed = json.loads(shown.stdout)
    assert [p["id"] for p in listed["front"]] == [p.id for p in front]
    assert [o["name"] for o in listed["objectives"]] == ["quality", "cost"]
    table = CliRunner().invoke(app, ["top", str(result.run_dir), "--front"])
    assert table.exit_code == 0 and "Pareto front of knobs" in table.stdout and "cost (min)" in table.stdout

    # A resume rebuilds the island's front from the stored metrics: bounded, non-dominated.
    again = PopulationActor(result.db_url, "knobs", load_problem(folder), RunConfig(), 3, "test", "offline", 30, True)
    rebuilt = again.population.islands[0].front
    assert 3 <= len(rebuilt) <= 6
    assert not any(dominates(a.objectives, b.objectives) for a in rebuilt for b in rebuilt)
    assert {m.id for m in rebuilt} <= {p.id for p in found.points}
    again.close()


def test_top_front_on_a_run_without_objectives_says_so(ray_local, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluate.py").write_text(EVALUATE)
    (folder / "problem.toml").write_text(TOML.split("\n[objectives]")[0])
    options = RunOptions(iterations=2, llm_concurrency=1, eval_workers=1, seed=1, sandbox="process")
    result = evolve_run(load_problem(folder), options, runs_root=tmp_path / "runs", run_name="plain")
    shown = CliRunner().invoke(app, ["top", str(result.run_dir), "--front"])
    assert shown.exit_code != 0
    assert "names no [objectives]" in shown.output


def test_the_prompt_names_the_objectives_and_the_parents_values():
    from evolve.problem import parse_config

    objectives = parse_config(Path("k/problem.toml"), TOML).objective_list()
    view = ProblemView("knobs", "two knobs", "python", REPO_PROMPTS, objectives)
    parent = ProgramView(id=1, code=PROGRAM, score=0.1, metrics={"quality": 1.0, "cost": 0.75})
    user = build_messages("diff", view, parent, [], None)[1]["content"]
    assert "# Several objectives: a trade-off" in user
    assert "- quality: maximize; the current program has 1" in user
    assert "- cost: minimize; the current program has 0.75" in user
    plain = build_messages("diff", ProblemView("knobs", "", "python", REPO_PROMPTS), parent, [], None)[1]["content"]
    assert "Several objectives" not in plain
