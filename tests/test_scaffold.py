"""`evolve new`: the generated folder loads, scores in the process sandbox and has a held-out score."""

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evolve.cli import app
from evolve.problem import load_problem
from evolve.sandbox import EvalRequest, make_sandbox

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def new(*args):
    return runner.invoke(app, ["new", *map(str, args)])


@pytest.fixture(scope="module")
def sandbox():
    box = make_sandbox("process", warn=False)
    yield box
    box.close()


def test_new_minimal_scores_and_has_a_heldout_score(tmp_path, sandbox):
    out = new("my_fit", "--dir", tmp_path)
    assert out.exit_code == 0, out.output
    folder = tmp_path / "my_fit"
    assert {p.name for p in folder.iterdir()} >= {"problem.toml", "initial_program.py", "evaluate.py", "README.md"}
    assert not list(tmp_path.glob(".*")), "the staging folder was left behind"

    problem = load_problem(folder)
    assert problem.name == "my_fit"
    assert (folder / "README.md").read_text().startswith("# my_fit:")
    train = sandbox.evaluate(EvalRequest.for_problem(problem, problem.initial_code))
    assert train.ok, train.reason + train.logs
    assert train.score == pytest.approx(-0.7200, abs=5e-4)  # what the template's README says
    assert "RMSE by region" in train.feedback and train.metrics["rmse"] == pytest.approx(-train.score)

    heldout_fn = problem.config.evaluation.heldout_function
    assert heldout_fn == "evaluate_heldout"
    heldout = sandbox.evaluate(EvalRequest.for_problem(problem, problem.initial_code, function=heldout_fn))
    assert heldout.ok, heldout.reason
    assert heldout.score == pytest.approx(-0.6560, abs=5e-4)


def test_generated_evaluator_rejects_what_cheats_or_breaks(tmp_path, sandbox):
    assert new("fit", "--dir", tmp_path).exit_code == 0
    problem = load_problem(tmp_path / "fit")
    body = "    return np.vander(query_x, DEGREE + 1) @ coeffs\n"
    assert body in problem.initial_code

    def outcome(replacement):
        code = problem.initial_code.replace(body, replacement)
        return sandbox.evaluate(EvalRequest.for_problem(problem, code))

    better = outcome("    return np.polyval(np.polyfit(train_x, train_y, 7), query_x)\n")
    assert better.ok and better.score > -0.2
    reports_a_score = outcome("    return {'score': 0.0}\n")
    assert not reports_a_score.ok and "candidate rejected" in reports_a_score.reason
    too_short = outcome("    return (np.vander(query_x, DEGREE + 1) @ coeffs)[:-1]\n")
    assert not too_short.ok and "expected 200 predictions" in too_short.reason
    not_finite = outcome("    return query_x + np.nan\n")
    assert not not_finite.ok and "finite" in not_finite.reason
    crashes = outcome("    raise RuntimeError('boom')\n")
    assert not crashes.ok and "boom" in crashes.reason


def test_the_commented_cascade_works_when_enabled(tmp_path, sandbox):
    assert new("casc", "--dir", tmp_path).exit_code == 0
    toml = tmp_path / "casc" / "problem.toml"
    text = toml.read_text()
    commented = '# [[evaluation.cascade]]\n# function = "evaluate_quick"\n# threshold = -5.0\n'
    assert commented in text
    toml.write_text(text.replace(commented, commented.replace("# ", "")))
    problem = load_problem(tmp_path / "casc")
    assert [s.function for s in problem.config.evaluation.cascade] == ["evaluate_quick"]
    passes = sandbox.evaluate(EvalRequest.for_problem(problem, problem.initial_code))
    assert passes.ok and passes.score == pytest.approx(-0.7200, abs=5e-4)
    way_off = problem.initial_code.replace(
        "return np.vander(query_x, DEGREE + 1) @ coeffs", "return query_x * 0 + 100.0"
    )
    stopped = sandbox.evaluate(EvalRequest.for_problem(problem, way_off))
    assert not stopped.ok and "cascade" in stopped.reason and "evaluate_quick" in stopped.reason


def test_new_from_a_shipped_problem(tmp_path, sandbox):
    out = new("my_circles", "--from", "circle_packing", "--dir", tmp_path)
    assert out.exit_code == 0, out.output
    folder = tmp_path / "my_circles"
    config = tomllib.loads((folder / "problem.toml").read_text())
    original = tomllib.loads((ROOT / "problems" / "circle_packing" / "problem.toml").read_text())
    assert config["name"] == "my_circles"
    assert {k: v for k, v in config.items() if k != "name"} == {k: v for k, v in original.items() if k != "name"}
    assert (folder / "evaluate.py").read_text() == (ROOT / "problems" / "circle_packing" / "evaluate.py").read_text()
    assert not (folder / "__pycache__").exists()
    problem = load_problem(folder)
    result = sandbox.evaluate(EvalRequest.for_problem(problem, problem.initial_code))
    assert result.ok and result.score == pytest.approx(1.80038, abs=1e-4)


def test_new_refuses_an_existing_folder(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    out = new("taken", "--dir", tmp_path)
    assert out.exit_code == 1
    assert "already exists" in out.output and "Traceback" not in out.output
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("name", ["bad name", "1st", "../escape", "a/b", "x.y", ""])
def test_new_refuses_a_bad_name(tmp_path, name):
    out = new(name, "--dir", tmp_path)
    assert out.exit_code == 1
    assert "not valid" in out.output and len(out.output.strip().splitlines()) <= 3
    assert not any(tmp_path.iterdir())


def test_new_refuses_an_unknown_source(tmp_path):
    out = new("x", "--from", "no_such_problem", "--dir", tmp_path)
    assert out.exit_code == 1
    assert "no_such_problem" in out.output and "minimal" in out.output and "circle_packing" in out.output
    assert not (tmp_path / "x").exists()


def test_generated_folder_passes_evolve_check(tmp_path):
    assert new("checked", "--dir", tmp_path).exit_code == 0
    out = runner.invoke(app, ["check", str(tmp_path / "checked"), "--sandbox", "process", "--json"])
    assert out.exit_code == 0, out.output
    assert '"heldout_score": -0.656' in out.output
