"""`evolve rescore RUN`: the stored programs of a run measured again under a changed evaluator.

The evaluator is the run's problem folder as it is now (after a fix to its evaluate.py), another
folder (`--problem DIR`), or another evaluator file (`--evaluator FILE`, put in a copy of the
run's problem folder under the evaluator's name). Each program runs in the sandbox a run would
use; each result is a new evaluation row of kind RESCORE (the old rows are kept), and the table
shows which programs change rank. `evolve run --resume` then goes on from the re-scored population.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import Engine

from evolve.errors import OptionError
from evolve.kinds import ProgramStatus
from evolve.problem import Problem, load_problem
from evolve.store.models import Program, Run
from evolve.store.rescores import Rescored, latest_rescores, record_rescores
from evolve.terminal import console, sandbox_choice, warn_if_process


@dataclass(frozen=True)
class RankChange:
    """One program before and after re-scoring; ranks count from 1 among the re-scored programs."""

    program_id: int
    old_score: float | None
    new_score: float | None  # None: it fails under the changed evaluator
    old_rank: int
    new_rank: int
    reason: str  # "ok", or why it failed


@dataclass(frozen=True)
class Candidate:
    program_id: int
    code: str
    score: float | None  # its score now: its latest re-score, else its first evaluation's


def ranks(scores: dict[int, float | None]) -> dict[int, int]:
    """Rank 1 is the highest score; a program without one ranks last; ties go to the older program."""
    order = sorted(scores, key=lambda pid: (scores[pid] is None, -(scores[pid] or 0.0), pid))
    return {pid: i + 1 for i, pid in enumerate(order)}


def candidates(engine: Engine, run_id: int, top: int | None) -> list[Candidate]:
    """The run's evaluated programs, best first by their score now; the first `top` (None: all)."""
    with engine.connect() as conn:
        rescored = latest_rescores(conn, run_id)
        rows = conn.execute(
            select(Program.id, Program.code, Program.score).where(
                Program.run_id == run_id, Program.status == ProgramStatus.OK
            )
        ).all()
    found = [Candidate(r.id, r.code, rescored.get(r.id, r.score)) for r in rows]
    found.sort(key=lambda c: (c.score is None, -(c.score or 0.0), c.program_id))
    return found if top is None else found[:top]


@contextmanager
def changed_problem(engine: Engine, run_id: int, problem_dir: Path | None, evaluator: Path | None) -> Iterator[Problem]:
    """The problem the programs are scored under (see the module's docstring)."""
    if problem_dir is not None and evaluator is not None:
        raise OptionError("give --problem or --evaluator, not both")
    if problem_dir is not None:
        yield load_problem(problem_dir)
        return
    with engine.connect() as conn:
        stored = Path(conn.execute(select(Run.problem_path).where(Run.id == run_id)).scalar_one())
    if evaluator is None:
        yield load_problem(stored)
        return
    if not evaluator.is_file():
        raise OptionError(f"--evaluator {evaluator}: no such file")
    original = load_problem(stored)
    with tempfile.TemporaryDirectory(prefix="evolve-rescore-") as tmp:
        copy = Path(tmp) / stored.name
        shutil.copytree(stored, copy, ignore=shutil.ignore_patterns("__pycache__", ".git"))
        shutil.copyfile(evaluator, copy / original.config.evaluation.evaluator)
        yield load_problem(copy)


def rescore_run(engine: Engine, run_id: int, problem: Problem, sandbox: str, top: int | None) -> list[RankChange]:
    """Evaluate the chosen programs under `problem`'s evaluator, record the results, and say how
    each program's rank changed (best first by the new score)."""
    from evolve.sandbox import make_sandbox
    from evolve.sandbox.template import evaluation_template

    chosen = candidates(engine, run_id, top)
    if not chosen:
        raise OptionError("the run has no evaluated program to re-score")
    template = evaluation_template(problem, sandbox)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = make_sandbox(sandbox) if sandbox == "docker" else make_sandbox(sandbox, warn=False)
    try:
        results = [Rescored(c.program_id, box.evaluate(replace(template, code=c.code))) for c in chosen]
    finally:
        box.close()
    record_rescores(engine, run_id, results, str(problem.root / problem.config.evaluation.evaluator))
    new = {r.program_id: r.outcome.score if r.outcome.ok else None for r in results}
    before, after = ranks({c.program_id: c.score for c in chosen}), ranks(new)
    changes = [
        RankChange(
            c.program_id, c.score, new[c.program_id], before[c.program_id], after[c.program_id], r.outcome.reason
        )
        for c, r in zip(chosen, results)
    ]
    return sorted(changes, key=lambda ch: ch.new_rank)


def _score(x: float | None) -> str:
    return "failed" if x is None else f"{x:.6g}"


def rescore(
    run: Annotated[str, typer.Argument(help="a run folder, a run name under ./runs/, or with --db a run id or name")],
    evaluator: Annotated[
        Path | None, typer.Option("--evaluator", help="an evaluator file to score with instead of the run's")
    ] = None,
    problem_dir: Annotated[
        Path | None, typer.Option("--problem", help="a problem folder to score with instead of the run's")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="re-score the N best programs")] = 10,
    all_programs: Annotated[bool, typer.Option("--all", help="re-score every evaluated program")] = False,
    sandbox: Annotated[
        str | None, typer.Option(help="docker or process (default: docker when an engine answers)")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="a database URL (sqlite:///..., postgresql://...)")] = None,
) -> None:
    """Evaluate a run's programs again under a changed evaluator; show which change rank."""
    from evolve.steer import writable_run

    if top < 1:
        raise OptionError(f"--top {top}: re-score at least 1 program")
    ref, engine = writable_run(run, db)
    name = sandbox_choice(sandbox)
    warn_if_process(name)
    try:
        with changed_problem(engine, ref.run_id, problem_dir, evaluator) as problem:
            changes = rescore_run(engine, ref.run_id, problem, name, None if all_programs else top)
    finally:
        engine.dispose()
    moved = sum(1 for c in changes if c.old_rank != c.new_rank)
    t = Table(title=f"{ref.name}: {len(changes)} programs re-scored, {moved} change rank", title_justify="left")
    for col in ("program", "old score", "new score", "old rank", "new rank"):
        t.add_column(col, justify="right")
    for c in changes:
        style = "bold" if c.old_rank != c.new_rank else None
        t.add_row(
            str(c.program_id), _score(c.old_score), _score(c.new_score), str(c.old_rank), str(c.new_rank), style=style
        )
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("rescore")(rescore)
