"""`evolve import DIR -o problems/NAME`: a peer's folder as a native one. The peer's files are
copied as they are, problem.toml holds every setting that mapped, and README.md gains a section
listing what did not; the new folder is loaded before it is put in place, so the command leaves
a complete folder or nothing."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from evolve.errors import ProblemError
from evolve.problem import Problem, load_problem

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", "results*", "openevolve_output")


def import_folder(source: str | Path, target: str | Path) -> tuple[Problem, Problem]:
    """(the peer's problem as read, the native problem written)."""
    peer = load_problem(source)
    if peer.origin == "problem.toml":
        raise ProblemError(f"{peer.root}: already has a problem.toml (nothing to import)")
    out = Path(target).resolve()
    if out.exists():
        raise ProblemError(f"{out}: already exists (choose another -o folder)")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        folder = work / out.name
        shutil.copytree(peer.root, folder, ignore=IGNORED, symlinks=True)
        data = peer.config.model_dump(mode="json", exclude_defaults=True)
        data["name"] = out.name
        (folder / "problem.toml").write_text(_header(peer) + to_toml(data))
        readme = folder / "README.md"
        before = readme.read_text() if readme.is_file() else f"# {out.name}\n"
        readme.write_text(before.rstrip() + "\n\n" + _not_mapped(peer))
        load_problem(folder)  # the same checks as any problem: it loads, or nothing is left
        folder.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return peer, load_problem(out)


def _header(peer: Problem) -> str:
    return f"# Imported by `evolve import` from {peer.origin}: {peer.root}\n\n"


def _not_mapped(peer: Problem) -> str:
    lines = [f"## Imported from {peer.origin}", ""]
    if peer.unmapped:
        lines.append("These settings of the original have no counterpart in evolve and are not used:")
        lines.append("")
        lines += [f"- `{item}`" for item in peer.unmapped]
    else:
        lines.append("Every setting of the original is mapped into problem.toml.")
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """TOML for problem.toml's plain data: keys first, then [tables] and [[arrays of tables]]."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict) and not _is_tables(v)]
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += f"\n[{name}]\n" + to_toml(value, f"{name}.")
        elif _is_tables(value):
            for item in value:
                out += f"\n[[{name}]]\n" + to_toml(item, f"{name}.")
    return out
