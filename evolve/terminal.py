"""What a person sees on the terminal: the two consoles, one-line errors and warnings, and the
choices every command that evaluates makes (which sandbox, what to warn about)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from evolve.errors import OptionError
from evolve.problem import Problem
from evolve.sandbox.base import SandboxKind

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def sandbox_choice(name: str | None) -> str:
    from evolve.sandbox import default_sandbox_name

    if name is None:
        return default_sandbox_name()
    if name not in tuple(SandboxKind) and ":" not in name:
        raise OptionError(f"--sandbox {name!r}: choose 'docker', 'process', or a plug-in as module:Class")
    return name


def warn_if_process(name: str) -> None:
    if name == SandboxKind.PROCESS:
        err.print(
            "[yellow]warning:[/] the process sandbox does not isolate: evaluate.py shares the host's "
            "filesystem and network, and candidates only get Landlock's confinement; "
            "use --sandbox docker for untrusted code"
        )


def show_problem_warnings(problem: Problem) -> None:
    """The problem's origin first when it is not a problem.toml (a peer's folder, two files), what
    of its settings evolve does not use (once), then what loads but is probably a mistake."""
    from evolve.problem import problem_warnings

    if problem.origin != "problem.toml":
        err.print(f"[bold]{escape(problem.origin)}[/]: {escape(str(problem.root))}", highlight=False, soft_wrap=True)
        if problem.unmapped:
            err.print(
                f"not mapped ({len(problem.unmapped)}): " + escape("; ".join(problem.unmapped)),
                highlight=False,
                soft_wrap=True,
            )
    for message in problem_warnings(problem):
        warn(message)
