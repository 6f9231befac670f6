"""Where the files that ship with the package live: found through importlib.resources, so an
installed wheel works from any directory, exactly as a source checkout does.

The repository keeps `prompts/`, `evaluators/` and `problems/` at its top level; pyproject.toml
maps them into the package as `evolve.prompts`, `evolve.evaluators` and `evolve.problems`.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path


def _folder(package: str) -> Path:
    # Wheels are installed unzipped, so every resource is a real file: the Docker sandbox
    # bind-mounts the evaluator folder and the process sandbox runs its runner by path.
    path = Path(str(files(package)))
    if not path.is_dir():
        raise FileNotFoundError(f"package data {package} is missing ({path}): reinstall evolve")
    return path


@cache
def prompts_dir() -> Path:
    """The default Jinja2 prompt templates."""
    return _folder("evolve.prompts")


@cache
def evaluators_dir() -> Path:
    """The evaluator runtime that runs inside a sandbox (runner, confinement, Dockerfile)."""
    return _folder("evolve.evaluators")


@cache
def runner_path() -> Path:
    return evaluators_dir() / "runner.py"


@cache
def templates_dir() -> Path:
    """The templates `evolve new` starts a problem folder from."""
    return _folder("evolve.templates")


@cache
def shipped_problems_dir() -> Path:
    """The example problems (the repository's `problems/`), shipped so `evolve new --from` works."""
    return _folder("evolve.problems")
