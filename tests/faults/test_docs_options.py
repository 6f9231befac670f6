"""The CLI and the docs agree on every option: each `--flag` that README.md or docs/*.md names is
a real option of `evolve` (of the very subcommand where the text says `evolve SUB ... --flag`),
and every option of `evolve run` is documented. Found by introspecting the Typer/Click commands,
so neither side can drift again (docs/reliability.md once named a `--model-timeout` that
`evolve run` did not have)."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from evolve.cli import app
from evolve.mutate.llm import ModelSpec

ROOT = Path(__file__).resolve().parents[2]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# `evolve SUB [SUB2] ...` up to the end of the line or of an inline code span.
COMMAND_LINE = re.compile(r"\bevolve ([a-z]+)(?: ([a-z]+))?([^`\n]*)")

# Options of other tools that the docs quote (Ray, Docker, kubectl, pip, debootstrap, the
# benchmark scripts, the sandbox runner's own command line): each with the tool it belongs to.
FOREIGN = {
    "--address": "ray start",
    "--autoscaling-config": "ray start",
    "--disable-usage-stats": "ray start",
    "--head": "ray start",
    "--include-dashboard": "ray start",
    "--num-cpus": "ray start",
    "--num-gpus": "ray start",
    "--resources": "ray start",
    "--generate": "ray get-auth-token",
    "--from-literal": "kubectl create secret",
    "--mount": "unshare",
    "--cpuset-cpus": "docker update",
    "--no-cache-dir": "pip install",
    "--variant": "debootstrap",
    "--include": "debootstrap",
    "--calls": "bench/search_quality.py",
    "--seeds": "bench/search_quality.py",
    "--quick": "bench/search_quality.py",
    "--job-fd": "evaluators/runner.py",
    "--src": "bench/startup.py",
    "--launches": "bench/startup.py",
    "--check": "ruff format",
    # Model servers (docs/models.md).
    "--parallel": "llama-server",
    "--n": "python -m llama_cpp.server (--n_ctx: the pattern stops at the underscore)",
    "--max-model-len": "vllm serve",
    "--max-num-seqs": "vllm serve",
}


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def options_by_command() -> dict[str, set[str]]:
    """'run' -> {'--iterations', ...}, 'sandbox build' -> {...}: every long option of every command."""
    found: dict[str, set[str]] = {}

    def walk(command, path: str) -> None:
        opts = {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
        found[path] = opts
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def test_every_option_the_docs_name_is_an_option_of_evolve():
    options = options_by_command()
    every = set().union(*options.values())
    unknown = []
    for doc in doc_files():
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for flag in FLAG.findall(line):
                if flag not in every and flag not in FOREIGN:
                    unknown.append(f"{doc.relative_to(ROOT)}:{number}: {flag}")
    assert unknown == [], "options the docs name but no evolve command has:\n" + "\n".join(unknown)


def test_an_option_after_evolve_sub_is_an_option_of_that_subcommand():
    options = options_by_command()
    wrong = []
    for doc in doc_files():
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for match in COMMAND_LINE.finditer(line):
                sub, sub2, rest = match.groups()
                command = f"{sub} {sub2}" if sub2 and f"{sub} {sub2}" in options else sub
                if command not in options:
                    continue  # "evolve is ..." in prose, not a command
                for flag in FLAG.findall(rest):
                    if flag not in options[command] and flag not in FOREIGN:
                        wrong.append(f"{doc.relative_to(ROOT)}:{number}: evolve {command} has no {flag}")
    assert wrong == [], "\n".join(wrong)


def test_every_option_of_evolve_run_is_documented():
    named = {flag for doc in doc_files() for flag in FLAG.findall(doc.read_text())}
    undocumented = sorted(options_by_command()["run"] - named - {"--help"})
    assert undocumented == [], f"options of evolve run that no doc names: {undocumented}"


def test_the_foreign_options_are_really_not_evolves():
    # A flag listed as another tool's must not be one of evolve's too (it would escape the check).
    every = set().union(*options_by_command().values())
    assert sorted(set(FOREIGN) & every) == []


def test_model_timeout_and_retries_reach_the_models(tmp_path):
    from evolve.engine.options import RunOptions
    from evolve.engine.run import resolve_models
    from evolve.problem import load_problem

    problem = load_problem(ROOT / "problems" / "circle_packing")
    options = RunOptions(models=(ModelSpec("openai/m"),), model_timeout=7.5, model_retries=2)
    (spec,) = resolve_models(problem, options)
    assert spec.timeout == 7.5 and spec.max_attempts == 3


def test_a_bad_model_timeout_is_one_line_naming_the_option(tmp_path):
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "run", str(ROOT / "problems" / "circle_packing"), "--model-timeout", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "--model-timeout" in line and "0" in line
    assert not (tmp_path / "runs").exists()
