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


def test_evaluator_contract_keys_are_strict():
    base = 'name = "x"\nprogram = "p.py"\n[evaluation]\n'
    parsed = config(
        base + 'evaluator = "evaluator.py"\ncall = "results_dir"\nscore = "combined_score"\non_below = "keep"'
    )
    ev = parsed.evaluation
    assert (ev.evaluator, ev.call, ev.score, ev.on_below) == ("evaluator.py", "results_dir", "combined_score", "keep")
    with pytest.raises(ProblemError, match=r"key 'evaluation.on_below'.*'stop'"):
        config(base + 'on_below = "stop"')
    with pytest.raises(ProblemError, match=r"key 'evaluation.call'.*'main'"):
        config(base + 'call = "main"')


def test_run_defaults_are_strict():
    parsed = config('name = "x"\nprogram = "p.py"\n[run]\niterations = 5\nseed = 3\nworkers = 2\nmax_cost = 1.5\n')
    assert (parsed.run.iterations, parsed.run.seed, parsed.run.workers, parsed.run.max_cost) == (5, 3, 2, 1.5)
    with pytest.raises(ProblemError, match=r"unknown key 'run\.generations'"):
        config('name = "x"\nprogram = "p.py"\n[run]\ngenerations = 5\n')
    with pytest.raises(ProblemError, match=r"key 'run\.workers'"):
        config('name = "x"\nprogram = "p.py"\n[run]\nworkers = 0\n')


def test_the_evaluator_file_and_command_must_exist(tmp_path):
    folder = copy_problem(tmp_path)
    toml = folder / "problem.toml"
    text = toml.read_text()
    toml.write_text(text.replace("[evaluation]", '[evaluation]\nevaluator = "evaluator.py"'))
    with pytest.raises(ProblemError, match=r"evaluator.py: missing .*\[evaluation\] evaluator"):
        load_problem(folder)
    toml.write_text(text.replace("[evaluation]", '[evaluation]\ncall = "command"\ncommand = "eval.sh"'))
    with pytest.raises(ProblemError, match=r"key 'evaluation.command': script 'eval.sh' not found"):
        load_problem(folder)
