"""The Python API: `import evolve` stays light, `evolve.Problem` writes checked problem folders,
and README's "Python API" example runs as written (fewer iterations, the process sandbox)."""

import re
import shutil
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

import evolve
from evolve.errors import ProblemError, RunError

ROOT = Path(__file__).resolve().parents[1]
CIRCLES = ROOT / "problems" / "circle_packing"


def test_import_evolve_loads_no_engine():
    code = "import evolve, sys; evolve.Problem; print(sorted(m for m in ('ray', 'litellm', 'sqlalchemy', 'typer') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_from_files_writes_a_checked_folder(tmp_path):
    (tmp_path / "prog.py").write_text("def f(x):\n    return x < 3\n")  # no markers: evolves as a whole
    shutil.copy(CIRCLES / "evaluate.py", tmp_path / "ev.py")
    problem = evolve.Problem.from_files(tmp_path / "prog.py", tmp_path / "ev.py", "say 'why'", folder=tmp_path / "p")
    assert problem.folder == (tmp_path / "p").resolve()
    assert (tmp_path / "p" / "evaluate.py").read_text() == (CIRCLES / "evaluate.py").read_text()
    program = (tmp_path / "p" / "prog.py").read_text()
    assert program == "# EVOLVE-BLOCK-START\ndef f(x):\n    return x < 3\n# EVOLVE-BLOCK-END\n"
    from evolve.problem import load_problem

    loaded = load_problem(problem.folder)
    assert loaded.config.description == "say 'why'" and loaded.name == "p"
    with pytest.raises(ProblemError, match="not empty"):
        evolve.Problem.from_files(tmp_path / "prog.py", tmp_path / "ev.py", folder=tmp_path / "p")


def test_a_problem_that_does_not_load_leaves_no_folder(tmp_path):
    (tmp_path / "prog.py").write_text("x = 1\n")
    (tmp_path / "ev.py").write_text("def score(path):\n    return {'score': 1}\n")
    with pytest.raises(ProblemError, match=r"evaluate\.py: no function 'evaluate'"):
        evolve.Problem.from_files(tmp_path / "prog.py", tmp_path / "ev.py", folder=tmp_path / "p")
    assert not (tmp_path / "p").exists()
    with pytest.raises(ProblemError, match=r"missing\.py: not a file"):
        evolve.Problem.from_files(tmp_path / "missing.py", tmp_path / "ev.py")


def test_from_objects_needs_a_function_in_a_module_file(tmp_path, monkeypatch):
    (tmp_path / "my_scorer.py").write_text("def score_it(program_path):\n    return {'score': 1.0}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from my_scorer import score_it

    problem = evolve.Problem.from_objects("x = 2\n", score_it, "a constant", name="const", folder=tmp_path / "c")
    assert 'function = "score_it"' in (problem.folder / "problem.toml").read_text()
    assert (problem.folder / "evaluate.py").read_text() == (tmp_path / "my_scorer.py").read_text()
    with pytest.raises(ProblemError, match="top level of a module"):
        evolve.Problem.from_objects("x = 2\n", lambda path: {"score": 1.0})

    def nested(path):
        return {"score": 1.0}

    with pytest.raises(ProblemError, match="top level of a module"):
        evolve.Problem.from_objects("x = 2\n", nested)


def python_api_blocks() -> str:
    section = (ROOT / "README.md").read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "README.md's Python API section has no python example"
    return "\n".join(blocks)


def test_the_readme_example_runs(tmp_path, monkeypatch):
    """The README's example as written, in a folder holding a copy of problems/circle_packing; only
    the iterations (3) and the sandbox (process) are overridden, at evolve.run."""
    shutil.copytree(CIRCLES, tmp_path / "problems" / "circle_packing")
    monkeypatch.chdir(tmp_path)
    real_run = evolve.run
    results = []

    def short_run(problem, **kwargs):
        kwargs.update(iterations=3, sandbox="process")
        results.append(real_run(problem, **kwargs))
        return results[-1]

    monkeypatch.setattr(evolve, "run", short_run)
    exec(compile(python_api_blocks(), "README.md", "exec"), {})
    assert len(results) == 2
    for result in results:
        assert isinstance(result, evolve.Result)
        assert str(result.stop_reason) == "completed 3 iterations" and result.candidates == 3
        assert result.best_program and "EVOLVE-BLOCK-START" in result.best_program
        assert result.best_score is not None and result.initial_score is not None
        assert result.best_score >= result.initial_score
        assert (result.run_dir / "summary.json").is_file() and result.run_dir.parent == Path("runs")
        with pytest.raises(FrozenInstanceError):
            result.best_score = 0.0  # type: ignore[misc]
    assert results[0].best_heldout_score is not None or "heldout_function" not in (CIRCLES / "problem.toml").read_text()
    assert results[1].run_name.startswith("packing-")


def test_a_failing_initial_program_raises(tmp_path):
    (tmp_path / "prog.py").write_text("raise SystemExit('broken on purpose')\n")
    shutil.copy(CIRCLES / "evaluate.py", tmp_path / "ev.py")
    problem = evolve.Problem.from_files(tmp_path / "prog.py", tmp_path / "ev.py", folder=tmp_path / "p")
    with pytest.raises(RunError, match="initial program"):
        evolve.run(problem, iterations=2, sandbox="process", runs_dir=tmp_path / "runs")
