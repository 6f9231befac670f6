import shutil
from pathlib import Path

import pytest

from evolve.problem import ProblemError, load_problem, parse_config, problem_warnings

ROOT = Path(__file__).resolve().parents[1]


def config(text):
    return parse_config(Path("problems/x/problem.toml"), text)


def test_minimal_config_gets_defaults():
    c = config('name = "x"\nprogram = "p.py"\n')
    assert c.evaluation.timeout == 60 and c.population.islands == 4
    assert [f.name for f in c.population.features] == ["code_length", "novelty"]


def test_unknown_key_names_file_and_key():
    with pytest.raises(ProblemError, match=r"problems/x/problem.toml: unknown key 'evaluation.timout'"):
        config('name = "x"\nprogram = "p.py"\n[evaluation]\ntimout = 3\n')


def test_wrong_type_names_key_and_value():
    with pytest.raises(ProblemError, match=r"key 'evaluation.timeout'.*'soon'"):
        config('name = "x"\nprogram = "p.py"\n[evaluation]\ntimeout = "soon"\n')


def test_missing_required_key():
    with pytest.raises(ProblemError, match="missing required key 'program'"):
        config('name = "x"\n')


def test_bad_toml_is_one_line():
    with pytest.raises(ProblemError, match="not valid TOML"):
        config('name = "x\n')


def test_inconsistent_selection_ratios():
    with pytest.raises(ProblemError, match="exploration \\+ exploitation"):
        config('name = "x"\nprogram = "p.py"\n[population]\nexploration = 0.6\nexploitation = 0.6\n')


def copy_problem(tmp_path):
    dst = tmp_path / "cp"
    shutil.copytree(ROOT / "problems" / "circle_packing", dst)
    return dst


def test_shipped_problem_loads():
    problem = load_problem(ROOT / "problems" / "circle_packing")
    assert problem.language == "python" and "EVOLVE-BLOCK-START" in problem.initial_code


def test_missing_program_file(tmp_path):
    folder = copy_problem(tmp_path)
    (folder / "initial_program.py").unlink()
    with pytest.raises(ProblemError, match=r"key 'program': file 'initial_program\.py' not found"):
        load_problem(folder)


def test_program_without_markers(tmp_path):
    folder = copy_problem(tmp_path)
    (folder / "initial_program.py").write_text("x = 1\n")
    with pytest.raises(ProblemError, match="no EVOLVE-BLOCK-START"):
        load_problem(folder)


def test_evaluate_with_syntax_error(tmp_path):
    folder = copy_problem(tmp_path)
    (folder / "evaluate.py").write_text("def evaluate(p):\n  return {\n")
    with pytest.raises(ProblemError, match=r"evaluate.py:\d+: syntax error"):
        load_problem(folder)


def test_named_function_must_exist(tmp_path):
    folder = copy_problem(tmp_path)
    toml = (folder / "problem.toml").read_text().replace("[evaluation]", '[evaluation]\nheldout_function = "later"')
    (folder / "problem.toml").write_text(toml)
    with pytest.raises(ProblemError, match="no function 'later'"):
        load_problem(folder)


def test_a_name_that_matches_its_folder_warns_of_nothing():
    assert problem_warnings(load_problem(ROOT / "problems" / "circle_packing")) == []


def test_a_name_that_differs_from_its_folder_is_a_warning(tmp_path):
    folder = tmp_path / "my_copy"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder, ignore=shutil.ignore_patterns("runs", "__pycache__"))
    [warning] = problem_warnings(load_problem(folder))
    assert warning.startswith(
        f"{folder / 'problem.toml'}: name 'circle_packing' differs from the folder's name 'my_copy'"
    )
