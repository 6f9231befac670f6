"""Peer problem folders (OpenEvolve, ShinkaEvolve, SkyDiscover) read as they are: the mapping of
their settings, and each folder through check, import and a short offline run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evolve.errors import ProblemError
from evolve.peers import PeerFormat, read_peer
from evolve.problem import load_problem, problem_from_files, run_defaults

from peer_folders import openevolve_folder, shinka_folder, skydiscover_folder


def evolve(*args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def check_json(folder, cwd):
    out = evolve("check", str(folder), "--sandbox", "process", "--json", cwd=cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout), out.stderr


# --- mapping -------------------------------------------------------------------------------------


def test_openevolve_settings_map(tmp_path):
    problem = load_problem(openevolve_folder(tmp_path))
    config = problem.config
    assert problem.origin.startswith("OpenEvolve folder")
    assert config.description == "Make the sum larger."
    assert [(m.name, m.weight, m.api_base, m.temperature, m.max_tokens) for m in config.models] == [
        ("openai/model-a", 0.8, "https://llm.example.com/v1", 0.5, 2048),
        ("openai/model-b", 0.2, "https://llm.example.com/v1", 0.5, 2048),
    ]
    assert (config.population.islands, config.population.migration_interval) == (3, 15)
    assert (config.mutation.diff, config.mutation.full) == (0.0, 1.0)
    ev = config.evaluation
    assert (ev.evaluator, ev.function, ev.score, ev.on_below, ev.timeout) == (
        "evaluator.py",
        "evaluate_stage2",
        "combined_score",
        "keep",
        30.0,
    )
    assert [(s.function, s.threshold) for s in ev.cascade] == [("evaluate_stage1", 0.7)]
    assert run_defaults(problem) == {"iterations": 7, "seed": 11, "eval_workers": 2}
    assert problem.unmapped == ("config.yaml: checkpoint_interval = 5", "config.yaml: database.archive_size = 20")


def test_shinka_settings_map_from_run_evo_without_running_it(tmp_path):
    folder = shinka_folder(tmp_path)
    (folder / "run_evo.py").write_text((folder / "run_evo.py").read_text() + "\nraise SystemExit('never run')\n")
    problem = load_problem(folder)
    config = problem.config
    assert problem.origin.startswith("ShinkaEvolve folder")
    assert (config.program, config.description) == ("initial.py", "Make the sum larger.")
    assert (config.mutation.diff, config.mutation.full, config.mutation.crossover) == (0.6, 0.3, 0.1)
    assert [m.name for m in config.models] == ["model-a", "model-b"]
    assert config.models[0].temperature == 0.5 and config.models[0].max_tokens == 1024
    assert (config.population.islands, config.population.migration_interval) == (2, 9)
    ev = config.evaluation
    assert (ev.evaluator, ev.function, ev.call, ev.timeout) == ("evaluate.py", "main", "results_dir", 45.0)
    assert config.run.iterations == 12
    assert "run_evo.py: db_config.archive_size = 40" in problem.unmapped
    assert "run_evo.py: evo_config.results_dir = 'results'" in problem.unmapped


def test_shinka_yaml_named_by_run_evo(tmp_path):
    folder = shinka_folder(tmp_path)
    (folder / "run_evo.py").write_text(
        "import argparse\np = argparse.ArgumentParser()\np.add_argument('--config_path', default='small.yaml')\n"
    )
    (folder / "small.yaml").write_text(
        "max_evaluation_jobs: 3\nevo_config:\n  num_generations: 4\n  max_api_costs: 2.5\n"
    )
    (folder / "large.yaml").write_text("evo_config:\n  num_generations: 400\n")
    problem = load_problem(folder)
    assert run_defaults(problem) == {"iterations": 4, "eval_workers": 3, "max_cost": 2.5}


def test_skydiscover_containerized_is_recognised(tmp_path):
    peer = read_peer(skydiscover_folder(tmp_path))
    assert peer is not None and peer.format == PeerFormat.SKYDISCOVER
    ev = peer.data["evaluation"]
    assert (ev["call"], ev["command"], ev["function"], ev["timeout"]) == (
        "command",
        "evaluator/evaluate.sh",
        "train",
        40.0,
    )
    assert peer.data["mutation"] == {"diff": 1.0, "full": 0.0}
    assert [m["name"] for m in peer.data["models"]] == ["openai/model-c"]
    assert "config.yaml: max_solution_length = 60000" in peer.unmapped


def test_bad_peer_settings_name_the_file_and_key(tmp_path):
    folder = openevolve_folder(tmp_path)
    (folder / "config.yaml").write_text("database:\n  num_islands: many\n")
    with pytest.raises(ProblemError, match=r"config.yaml: key 'database.num_islands'.*many"):
        load_problem(folder)
    (folder / "config.yaml").write_text("llm: [unclosed\n")
    with pytest.raises(ProblemError, match=r"config\.yaml: not valid YAML"):
        load_problem(folder)


def test_a_folder_of_no_format_says_what_it_needs(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(ProblemError, match=r"problem\.toml.*OpenEvolve, ShinkaEvolve or SkyDiscover"):
        load_problem(tmp_path / "x")


def test_two_files_need_one_folder(tmp_path):
    folder = openevolve_folder(tmp_path)
    other = tmp_path / "elsewhere.py"
    other.write_text("def evaluate(p):\n    return {}\n")
    with pytest.raises(ProblemError, match="not in"):
        problem_from_files(folder / "initial_program.py", other)
    problem = problem_from_files(folder / "initial_program.py", folder / "evaluator.py")
    assert problem.origin.startswith("two files, no problem.toml")
    assert problem.config.evaluation.evaluator == "evaluator.py"


# --- through the command line ---------------------------------------------------------------------


def test_openevolve_folder_check_keeps_the_stage_score(tmp_path):
    folder = openevolve_folder(tmp_path)
    result, stderr = check_json(folder, tmp_path)
    assert stderr.splitlines()[0].startswith("OpenEvolve folder, settings from config.yaml")
    assert stderr.count("not mapped (2)") == 1
    # below stage 1's threshold 0.7 (6/10): kept, as OpenEvolve keeps it
    assert result["ok"] and result["score"] == pytest.approx(0.6)
    assert "total" not in result["metrics"]
    (folder / "config.yaml").write_text((folder / "config.yaml").read_text().replace("[0.7]", "[0.5]"))
    result, _ = check_json(folder, tmp_path)
    # stage 2 (async, an EvaluationResult) runs; its metrics merge over stage 1's
    assert result["score"] == pytest.approx(1.2)
    assert result["metrics"]["total"] == 6.0 and result["metrics"]["stage1_passed"] == 1.0


def test_shinka_folder_check(tmp_path):
    result, stderr = check_json(shinka_folder(tmp_path), tmp_path)
    assert stderr.splitlines()[0].startswith("ShinkaEvolve folder")
    assert result["ok"] and result["score"] == pytest.approx(0.6)
    assert result["metrics"]["count"] == 3.0
    assert result["metrics"]["private.raw_sum"] == 6.0


def test_shinka_validation_failure_is_the_candidates(tmp_path):
    folder = shinka_folder(tmp_path)
    program = folder / "initial.py"
    program.write_text(program.read_text().replace("[1.0, 2.0, 3.0]", "[1.0]"))
    out = evolve("check", str(folder), "--sandbox", "process", cwd=tmp_path)
    assert out.returncode == 1 and "three values expected" in out.stderr


def test_skydiscover_containerized_check(tmp_path):
    result, stderr = check_json(skydiscover_folder(tmp_path), tmp_path)
    assert stderr.splitlines()[0].startswith("SkyDiscover folder")
    assert result["ok"] and result["score"] == pytest.approx(0.6) and result["metrics"]["total"] == 6.0
    assert "## mode\ntrain" in result["feedback"]  # evaluate.sh's MODE is the function's name
    assert "debug line" not in result["feedback"]


@pytest.mark.parametrize("make", [openevolve_folder, shinka_folder, skydiscover_folder])
def test_import_writes_a_native_folder_with_the_same_score(tmp_path, make):
    peer = make(tmp_path)
    before, _ = check_json(peer, tmp_path)
    out = evolve("import", str(peer), "-o", str(tmp_path / "problems" / "imported"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    native = tmp_path / "problems" / "imported"
    assert (native / "problem.toml").is_file() and "## Imported from" in (native / "README.md").read_text()
    after, stderr = check_json(native, tmp_path)
    assert "folder" not in stderr.splitlines()[0] if stderr else True
    assert after["score"] == pytest.approx(before["score"])
    again = evolve("import", str(peer), "-o", str(native), cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.parametrize("make", [openevolve_folder, shinka_folder])
def test_short_offline_run_of_a_peer_folder(tmp_path, make):
    folder = make(tmp_path)
    out = evolve("run", str(folder), "--iterations", "3", "--sandbox", "process", "--name", "peer", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads((tmp_path / "runs" / "peer" / "summary.json").read_text())
    assert summary["candidates"] == 3 and summary["initial_score"] == pytest.approx(0.6)
    # the folder's models are remote ones and no key is set: offline, said once
    assert "mutator: offline" in out.stdout and summary["mutator"] == "offline"
    assert out.stdout.count("need a provider key") + out.stderr.count("need a provider key") == 1


def test_two_file_run(tmp_path):
    folder = openevolve_folder(tmp_path)
    (folder / "config.yaml").unlink()
    out = evolve(
        "run",
        str(folder / "initial_program.py"),
        str(folder / "evaluator.py"),
        "--iterations",
        "3",
        "--sandbox",
        "process",
        "--name",
        "two",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr.splitlines()[0].startswith("two files, no problem.toml")
    summary = json.loads((tmp_path / "runs" / "two" / "summary.json").read_text())
    assert summary["candidates"] == 3


def test_shinka_program_imports_its_folders_modules_and_returns_enums(tmp_path):
    """As game_2048: the program imports a module of the problem folder and returns its Enum."""
    folder = shinka_folder(tmp_path)
    (folder / "moves.py").write_text("from enum import Enum\n\n\nclass Move(Enum):\n    UP = 0\n    DOWN = 1\n")
    program = folder / "initial.py"
    program.write_text(
        "from moves import Move\n"
        + program.read_text().replace("return values()", "return values(), [Move.DOWN, Move.UP]")
    )
    evaluate = folder / "evaluate.py"
    evaluate.write_text(
        evaluate.read_text()
        .replace("import numpy as np\n", "import numpy as np\nfrom moves import Move\n")
        .replace(
            'return (len(result) == 3, "three values expected")',
            'return (list(result[1]) == [Move.DOWN, Move.UP], f"moves came back as {result[1]!r}")',
        )
        .replace("np.asarray(results[0])", "np.asarray(results[0][0])")
    )
    result, _ = check_json(folder, tmp_path)
    assert result["ok"] and result["score"] == pytest.approx(0.6)


@pytest.mark.parametrize("make", [openevolve_folder, shinka_folder, skydiscover_folder])
def test_peer_folders_in_the_docker_sandbox(tmp_path, make, docker_engine):
    """The stand-ins (openevolve, shinka) and evaluate.sh work in a locked-down container too."""
    out = evolve("check", str(make(tmp_path)), "--sandbox", "docker", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["sandbox"] == "docker" and result["score"] == pytest.approx(0.6)


def test_run_defaults_apply_and_flags_override(tmp_path):
    out = evolve("import", str(openevolve_folder(tmp_path)), "-o", str(tmp_path / "native"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    toml = tmp_path / "native" / "problem.toml"
    toml.write_text(toml.read_text().replace("iterations = 7", "iterations = 2"))
    first = evolve("run", str(tmp_path / "native"), "--sandbox", "process", "--name", "a", cwd=tmp_path)
    second = evolve("run", str(tmp_path / "native"), "--sandbox", "process", "--name", "b", "-n", "1", cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    runs = tmp_path / "runs"
    assert json.loads((runs / "a" / "summary.json").read_text())["candidates"] == 2  # [run] iterations
    assert json.loads((runs / "b" / "summary.json").read_text())["candidates"] == 1  # the flag wins


def test_containerized_evaluator_requirements_are_checked_against_evolves_image(tmp_path):
    folder = skydiscover_folder(tmp_path)
    (folder / "evaluator" / "requirements.txt").write_text("numpy>=1.24\n# a comment\nPandas[excel]==2.1\n")
    note = load_problem(folder).unmapped[-1]
    assert note.startswith("evaluator/requirements.txt: pandas not in evolve's image") and "[evaluation] image" in note
    (folder / "evaluator" / "requirements.txt").write_text("numpy\nscipy\n")
    assert load_problem(folder).unmapped[-1].endswith("which has its requirements (numpy, scipy)")
    dockerfile = folder / "evaluator" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN apt-get install -y gcc\n")
    assert "does more than install Python requirements: RUN apt-get" in load_problem(folder).unmapped[-1]
