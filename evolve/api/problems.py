"""`evolve.Problem`: what `evolve.run` evolves, as a problem folder.

The sandbox runs an evaluator file, and a run records its problem's folder (to resume it), so a
problem given as paths or as Python objects is written out as an ordinary problem folder first:
problem.toml, the initial program, evaluate.py and any extra files. Nothing else is hidden.
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolve.edit.blocks import find_blocks
from evolve.errors import ProblemError

log = logging.getLogger(__name__)

PathLike = str | Path


@dataclass(frozen=True)
class Problem:
    """A problem folder (problem.toml, the initial program, evaluate.py), checked when made."""

    folder: Path

    @classmethod
    def from_folder(cls, folder: PathLike) -> Problem:
        from evolve.problem import load_problem

        return cls(load_problem(folder).root)

    @classmethod
    def from_files(
        cls,
        initial_program: PathLike,
        evaluator: PathLike,
        description: str = "",
        *,
        name: str | None = None,
        function: str = "evaluate",
        timeout: float | None = None,
        files: Sequence[PathLike] = (),
        folder: PathLike | None = None,
    ) -> Problem:
        """A problem from an initial program and an evaluator file (copied as evaluate.py, where
        `function(program_path) -> dict` returns a numeric `score`). `files` are copied beside
        them (modules or data the evaluator reads). A Python program without EVOLVE-BLOCK markers
        evolves as a whole. The folder is `folder`, else a new temporary one (kept: a run can be
        resumed only while its problem folder exists)."""
        program, source = Path(initial_program), Path(evaluator)
        for path in (program, source, *map(Path, files)):
            if not path.is_file():
                raise ProblemError(f"{path}: not a file")
        name = name or (Path(folder).name if folder is not None else program.resolve().parent.name) or "problem"
        extra = {Path(f).name: Path(f).read_bytes() for f in files}
        extra["evaluate.py"] = source.read_bytes()
        return _write(name, program.name, program.read_text(), description, function, timeout, extra, folder)

    @classmethod
    def from_objects(
        cls,
        initial_program: str,
        evaluate: Callable[[str], Any],
        description: str = "",
        *,
        name: str | None = None,
        program_name: str = "initial_program.py",
        timeout: float | None = None,
        files: Sequence[PathLike] = (),
        folder: PathLike | None = None,
    ) -> Problem:
        """A problem from the initial program's text and an evaluate function. The function must
        be defined at the top level of an importable module's file (not `__main__`, not a lambda
        or a nested function): that module's file becomes evaluate.py, since the sandbox runs a
        file, not this process's objects. It must import only what the sandbox has (the standard
        library, numpy, scipy; `files` for its own helpers)."""
        source = evaluator_source(evaluate)
        name = name or (Path(folder).name if folder is not None else "problem")
        extra = {Path(f).name: Path(f).read_bytes() for f in files}
        extra["evaluate.py"] = source.read_bytes()
        return _write(name, program_name, initial_program, description, evaluate.__name__, timeout, extra, folder)


def evaluator_source(evaluate: Callable[..., Any]) -> Path:
    """The file that defines `evaluate` at its top level; a clear error for anything else."""
    label = getattr(evaluate, "__qualname__", repr(evaluate))
    module_name = getattr(evaluate, "__module__", None)
    module = sys.modules.get(module_name or "")
    if module is None or not callable(evaluate) or getattr(module, evaluate.__name__, None) is not evaluate:
        raise ProblemError(
            f"evaluate={label}: not a function defined at the top level of a module (a lambda, a nested "
            "function or a method cannot be loaded by the sandbox; define it in a module file)"
        )
    if module_name == "__main__":
        raise ProblemError(
            f"evaluate={label}: defined in the script being run (__main__); the sandbox loads the "
            "function's file, where the script's own code would run again: put evaluate in its own "
            "module (e.g. my_evaluator.py) and import it"
        )
    try:
        path = inspect.getsourcefile(evaluate)
    except TypeError:
        path = None
    if path is None or not Path(path).is_file():
        raise ProblemError(f"evaluate={label}: its module {module_name} has no source file to copy")
    return Path(path)


def _with_blocks(code: str, program_name: str) -> str:
    """A Python program without markers evolves as a whole: markers around all of it."""
    if find_blocks(code) or not program_name.endswith(".py"):
        return code  # other languages must mark their blocks themselves (load_problem says so)
    log.info("%s has no EVOLVE-BLOCK markers: the whole program evolves", program_name)
    return f"# EVOLVE-BLOCK-START\n{code.rstrip()}\n# EVOLVE-BLOCK-END\n"


def _toml(name: str, program: str, description: str, function: str, timeout: float | None) -> str:
    # json.dumps writes a string TOML reads back unchanged (a TOML basic string has JSON's escapes).
    lines = [
        f"name = {json.dumps(name)}",
        f"description = {json.dumps(description)}",
        f"program = {json.dumps(program)}",
    ]
    lines += ["", "[evaluation]", f"function = {json.dumps(function)}"]
    if timeout is not None:
        lines.append(f"timeout = {float(timeout)!r}")
    return "\n".join(lines) + "\n"


def _write(
    name: str,
    program_name: str,
    code: str,
    description: str,
    function: str,
    timeout: float | None,
    extra: dict[str, bytes],
    folder: PathLike | None,
) -> Problem:
    """Write the folder and check it as `evolve run` would; a folder that does not load is removed."""
    from evolve.problem import load_problem

    if program_name in extra:
        raise ProblemError(f"{program_name}: the initial program and another file share this name")
    root = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="evolve-")) / name
    if root.exists() and any(root.iterdir()):
        raise ProblemError(f"{root}: not empty (give a new folder for the problem)")
    root.mkdir(parents=True, exist_ok=True)
    made = root if folder is not None else root.parent  # what to remove if the folder does not load
    try:
        (root / "problem.toml").write_text(_toml(name, program_name, description, function, timeout))
        (root / program_name).write_text(_with_blocks(code, program_name))
        for file_name, data in extra.items():
            (root / file_name).write_bytes(data)
        return Problem(load_problem(root).root)
    except BaseException:
        shutil.rmtree(made, ignore_errors=True)
        raise
