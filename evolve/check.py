"""`evolve check PROBLEM` and `evolve eval PROBLEM FILE`: one evaluation of one program, in the
sandbox a run would use, with its figures, its feedback and, when evaluate.py raised, its traceback."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from evolve.errors import OptionError, RunError
from evolve.kinds import FailureKind
from evolve.problem import Problem, load_problem
from evolve.sandbox.base import SandboxKind
from evolve.terminal import console, err, fail, sandbox_choice, show_problem_warnings, warn_if_process


def check(
    problem_dir: Path = typer.Argument(..., help="A problem folder (problems/<name>)."),
    sandbox: str | None = typer.Option(None, help="docker or process (default: docker when an engine answers)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Validate a problem folder and evaluate its initial program once in the sandbox."""
    problem = load_problem(problem_dir)
    score_once(problem, problem.initial_code, problem.program_path, "initial program", sandbox, json_out)


def eval_file(
    problem_dir: Path = typer.Argument(..., help="A problem folder (problems/<name>)."),
    program: Path = typer.Argument(..., help="A candidate program file to score (any path)."),
    sandbox: str | None = typer.Option(None, help="docker or process (default: docker when an engine answers)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Score any candidate file with a problem's evaluator, as `evolve check` scores the initial program."""
    problem = load_problem(problem_dir)
    try:
        code = program.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"{program}: cannot read the program ({exc.__class__.__name__}: {exc})") from None
    score_once(problem, code, program, program.name, sandbox, json_out)


def score_once(
    problem: Problem, code: str, program_path: Path, label: str, sandbox: str | None, json_out: bool
) -> None:
    """Evaluate `code` once (and on the held-out set when it passes); print the figures."""
    from evolve.sandbox import make_sandbox
    from evolve.sandbox.template import evaluation_template

    show_problem_warnings(problem)
    require_local_gpus(problem)
    name = sandbox_choice(sandbox)
    warn_if_process(name)
    template = evaluation_template(problem, name, code=code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = make_sandbox(name) if name == SandboxKind.DOCKER else make_sandbox(name, warn=False)
    try:
        outcome = box.evaluate(template)
        heldout = None
        ev = problem.config.evaluation
        if outcome.ok and ev.heldout_function:
            heldout = box.evaluate(replace(template, function=ev.heldout_function, cascade=()))
    finally:
        box.close()
    if json_out:
        print(
            json.dumps(
                {
                    "problem": problem.name,
                    "ok": outcome.ok,
                    "score": outcome.score,
                    "reason": outcome.reason,
                    "metrics": outcome.metrics,
                    "feedback": outcome.feedback,
                    "seconds": outcome.duration,
                    "sandbox": outcome.sandbox,
                    "heldout_score": heldout.score if heldout and heldout.ok else None,
                }
            )
        )
    else:
        table = Table(title=f"{problem.name}: {label}", show_header=False)
        table.add_row("sandbox", outcome.sandbox)
        table.add_row("time", f"{outcome.duration:.2f} s")
        table.add_row("status", "[green]ok[/]" if outcome.ok else f"[red]{escape(outcome.reason)}[/]")
        if outcome.score is not None:
            table.add_row("score", f"{outcome.score:.6g}")
        if heldout is not None:
            table.add_row(
                "held-out score", f"{heldout.score:.6g}" if heldout.ok else f"[red]{escape(heldout.reason)}[/]"
            )
        for key, value in sorted(outcome.metrics.items()):
            if key != "score":
                table.add_row(key, f"{value:.6g}")
        if outcome.feedback:
            table.add_row("feedback", escape(outcome.feedback[:500]))
        console.print(table)
    if not outcome.ok:
        # The evaluator's traceback (when evaluate.py raised) and the last lines it printed.
        tail = outcome.logs.strip().splitlines()[-40:]
        if tail and not json_out:
            err.print("\n".join(tail), markup=False, highlight=False)
        if outcome.kind == FailureKind.EVALUATOR_ERROR:  # the evaluator's own bug, not the program's
            fail(
                f"{problem.root / problem.config.evaluation.evaluator}: raised while scoring the {label}: {outcome.reason}"
            )
        fail(f"{program_path}: the {label} fails its evaluation: {outcome.reason}")
    if heldout is not None and not heldout.ok:
        fail(
            f"{problem.root / problem.config.evaluation.evaluator}: {problem.config.evaluation.heldout_function} fails: {heldout.reason}"
        )


def local_gpus() -> int:
    """The NVIDIA GPUs of this machine: those `nvidia-smi -L` lists, else the /dev/nvidiaN devices."""
    import re
    import shutil
    import subprocess

    if shutil.which("nvidia-smi"):
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
            return sum(1 for line in listing.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            pass
    return sum(1 for dev in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", dev.name))


def require_local_gpus(problem: Problem) -> None:
    """`evolve check` evaluates on this machine: refuse, in one line, a problem that asks for more
    GPUs than it has (a run checks its Ray cluster instead, which may have them elsewhere)."""
    wanted = problem.config.evaluation.gpus
    if wanted <= 0:
        return
    have = local_gpus()
    if have < wanted:
        found = "no GPU" if have == 0 else f"only {have} GPU{'s' if have > 1 else ''}"
        raise RunError(
            f"{problem.root / 'problem.toml'}: evaluation.gpus = {wanted:g}, but this machine has {found} "
            "(nvidia-smi -L, /dev/nvidia*): run evolve check on a machine that has one"
        )


def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command("eval")(eval_file)
