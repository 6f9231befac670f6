"""`evolve new NAME [--from SOURCE] [--dir problems]`: start a problem folder that works as generated.

A source is either a template shipped with the package (`evolve/templates/<name>/`, real files:
`minimal` is the default) or an existing problem folder, which is copied (`--from circle_packing`).
Either way the new folder's problem.toml gets `name = NAME`, and the folder is checked with
`load_problem` before it is put in place, so the command leaves a complete folder or nothing.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import tomllib
from pathlib import Path

import typer
from rich.console import Console

from evolve.errors import UserError
from evolve.problem import ProblemError, load_problem
from evolve.resources import shipped_problems_dir, templates_dir

DEFAULT_TEMPLATE = "minimal"
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", "runs", ".git")


class ScaffoldError(UserError):
    """`evolve new` cannot do what was asked; the message is one line a user can act on."""


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"problem name {name!r} is not valid: use letters, digits, '_' or '-', starting with a letter, "
            "at most 64 characters (e.g. my_problem); choose the parent folder with --dir"
        )


def _is_problem(folder: Path) -> bool:
    return folder.is_dir() and (folder / "problem.toml").is_file()


def templates() -> list[str]:
    if not templates_dir().is_dir():
        return []
    return sorted(p.name for p in templates_dir().iterdir() if _is_problem(p))


def shipped_problems() -> list[str]:
    if not shipped_problems_dir().is_dir():
        return []
    return sorted(p.name for p in shipped_problems_dir().iterdir() if _is_problem(p))


def resolve_source(source: str, problems_dir: Path) -> Path:
    """A template name, a problem folder name (in --dir, then the shipped problems/), or a path."""
    candidates = []
    if NAME_PATTERN.fullmatch(source):
        candidates += [templates_dir() / source, problems_dir / source, shipped_problems_dir() / source]
    candidates.append(Path(source))
    for folder in candidates:
        if _is_problem(folder):
            return folder.resolve()
    known = ", ".join([*templates(), *shipped_problems()]) or "none found"
    raise ScaffoldError(
        f"--from {source!r}: no template or problem folder of that name (choose from: {known}, "
        "or give the path of a folder with a problem.toml)"
    )


def rename_in_toml(text: str, new_name: str) -> str:
    """Set the top-level `name` of a problem.toml, keeping every comment and other line as it is."""
    lines = text.splitlines(keepends=True)
    in_multiline = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if in_multiline:
            if stripped.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if stripped.startswith("["):
            break  # the first table header: top-level keys end here
        if re.match(r"name\s*=", stripped):
            lines[i] = f'name = "{new_name}"\n'
            return "".join(lines)
        for quote in ('"""', "'''"):
            if stripped.count(quote) % 2 == 1:
                in_multiline = quote
                break
    return f'name = "{new_name}"\n' + "".join(lines)


def _rename_readme(path: Path, old_name: str, new_name: str) -> None:
    """The README's title names the problem: `# old...` becomes `# new...` (nothing else changes)."""
    if not path.is_file():
        return
    text = path.read_text()
    first, sep, rest = text.partition("\n")
    if old_name and re.match(rf"#\s+{re.escape(old_name)}\b", first):
        path.write_text(first.replace(old_name, new_name, 1) + sep + rest)


def create_problem(name: str, source: str = DEFAULT_TEMPLATE, problems_dir: str | Path = "problems") -> Path:
    """Create `problems_dir/name` from `source`; returns the new folder. Raises ScaffoldError."""
    check_name(name)
    problems_dir = Path(problems_dir)
    dest = problems_dir / name
    if dest.exists():
        raise ScaffoldError(f"{dest}: already exists (choose another name, or remove the folder first)")
    origin = resolve_source(source, problems_dir)
    if problems_dir.resolve().is_relative_to(origin.resolve()):
        raise ScaffoldError(f"--dir {problems_dir}: inside the source folder {origin} (the copy would contain itself)")
    try:
        old_name = tomllib.loads((origin / "problem.toml").read_text()).get("name", "")
    except tomllib.TOMLDecodeError as exc:
        raise ScaffoldError(f"{origin / 'problem.toml'}: not valid TOML: {exc}") from None

    problems_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=problems_dir))
    try:
        work = staging / name
        shutil.copytree(origin, work, ignore=_IGNORE)
        toml_path = work / "problem.toml"
        toml_path.write_text(rename_in_toml(toml_path.read_text(), name))
        _rename_readme(work / "README.md", str(old_name), name)
        try:
            problem = load_problem(work)
        except ProblemError as exc:
            raise ScaffoldError(f"the copy of {origin} does not load: {exc}") from None
        if problem.name != name:
            raise ScaffoldError(
                f"{origin / 'problem.toml'}: could not set its name to {name!r} (a top-level "
                "`name = ...` line before the first [table] is needed)"
            )
        if dest.exists():
            raise ScaffoldError(f"{dest}: already exists (choose another name, or remove the folder first)")
        work.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def register(app: typer.Typer) -> None:
    @app.command("new")
    def new(
        name: str = typer.Argument(..., help="The problem's name; also its folder's name."),
        source: str = typer.Option(
            DEFAULT_TEMPLATE,
            "--from",
            help="A template (minimal) or an existing problem folder to copy (e.g. circle_packing).",
        ),
        directory: Path = typer.Option(Path("problems"), "--dir", help="Where the problem folder goes."),
    ) -> None:
        """Create a problem folder that passes `evolve check` as generated, ready to edit."""
        try:
            dest = create_problem(name, source, directory)
        except ScaffoldError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        console = Console()
        console.print(f"created [bold]{dest}[/] from {source}:", highlight=False)
        for path in sorted(dest.rglob("*")):
            if path.is_file():
                console.print(f"  {path.relative_to(dest)}", highlight=False)
        console.print(
            f"next: edit the files (docs/problems.md explains the contract), then\n"
            f"  evolve check {dest}\n  evolve run {dest} --iterations 50",
            highlight=False,
        )
