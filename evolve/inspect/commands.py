"""The inspection commands: `evolve runs | show | best | top | lineage | diff | export | report | ui`.

`register(app)` adds them to the `evolve` Typer app. Every command that takes RUN also takes
`--db URL`; RUN is a run folder, a run name under ./runs/, or (with --db) a run id or name; left
out, it is the newest run under ./runs/. `--json` prints the same facts for scripts.

    python -m evolve.inspect.commands show my-run     # works without the main CLI too
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evolve.inspect import lineage as history
from evolve.inspect import queries
from evolve.inspect.export import export_rows
from evolve.inspect.front import run_front
from evolve.inspect.locate import RUNS_ROOT, RunNotFound, RunRef, locate, open_reader, run_folders
from evolve.inspect.printing import (
    console,
    delta,
    duration,
    front_table,
    money,
    number,
    print_code,
    print_json,
    print_summary,
    program_table,
)
from evolve.inspect.rows import RunRow
from evolve.inspect.summary import summary
from evolve.store.db import sqlite_url

RunArg = Annotated[
    str | None,
    typer.Argument(
        help="a run folder, a run name under ./runs/, or with --db a run id or name (default: the newest run)",
        show_default=False,
    ),
]
DbOpt = Annotated[str | None, typer.Option("--db", help="a database URL (sqlite:///..., postgresql://...)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _fail(message: str) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)
    return typer.Exit(1)


def _locate(run: str | None, db: str | None) -> RunRef:
    try:
        return locate(run, db)
    except RunNotFound as exc:
        raise _fail(str(exc)) from None


def _int_arg(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value.lstrip("#"))
    except ValueError:
        raise _fail(f"{what} must be a program id (a number), not {value!r}") from None


# ---------------------------------------------------------------- the commands


def runs_cmd(
    db: DbOpt = None,
    json_out: JsonOpt = False,
    root: Annotated[Path, typer.Option(help="the folder holding run folders")] = RUNS_ROOT,
) -> None:
    """List runs: name, problem, status, candidates, best score, cost, start and duration."""
    rows: list[RunRow] = []
    try:
        if db:
            rows = queries.list_runs(open_reader(db), db)
        else:
            for folder in run_folders(root):
                url = sqlite_url(folder)
                try:
                    rows.extend(queries.list_runs(open_reader(url), url))
                except Exception as exc:  # one unreadable folder must not hide the others
                    Console(stderr=True).print(f"[yellow]skipped {escape(str(folder))}: {escape(str(exc))}[/yellow]")
    except RunNotFound as exc:
        raise _fail(str(exc)) from None
    rows.sort(key=lambda r: r.created_at or "", reverse=True)
    if json_out:
        return print_json(rows)
    if not rows:
        console().print(f"no runs under {root}/" if not db else f"no runs in {db}")
        return
    t = Table(title=f"runs in {db}" if db else f"runs under {root}/", title_justify="left")
    for col in (
        "name",
        "problem",
        "status",
        "candidates",
        "failed",
        "best score",
        "held-out",
        "cost",
        "started",
        "duration",
    ):
        t.add_column(
            col,
            justify="right"
            if col in ("candidates", "failed", "best score", "held-out", "cost", "duration")
            else "left",
        )
    for r in rows:
        t.add_row(
            r.name,
            r.problem,
            r.status,
            number(r.candidates),
            number(r.failed),
            number(r.best_score, 6),
            number(r.heldout_score, 6),
            money(r.cost),
            (r.created_at or "–").replace("T", " "),
            duration(r.duration_s),
        )
    console().print(t)


def show_cmd(run: RunArg = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """The run's summary: best and held-out scores, best per island, failures by reason, models."""
    ref = _locate(run, db)
    s = summary(ref.engine, ref.run_id, ref.url)
    if json_out:
        return print_json(s)
    print_summary(console(), s, ref.url)


def best_cmd(
    run: RunArg = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the code to FILE")] = None,
) -> None:
    """The best program: its code (or write it to FILE with -o), score and metrics."""
    ref = _locate(run, db)
    try:
        d = queries.best(ref.engine, ref.run_id)
    except queries.QueryError as exc:
        raise _fail(str(exc)) from None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(d.code, encoding="utf-8")
    if json_out:
        return print_json(d)
    c, b = console(), d.brief
    if output is not None:
        c.print(f"wrote program {b.id} (score {b.score:.6f}) to {output}", highlight=False)
        return
    c.print(
        f"[bold green]best score {b.score:.6f}[/bold green]  program {b.id} · island {b.island} · "
        f"generation {b.generation} · iteration {b.iteration} · held-out {number(b.heldout_score, 6)}"
        + (f" · {b.model}" if b.model else ""),
        highlight=False,
    )
    if d.metrics:
        c.print("metrics: " + ", ".join(f"{k}={number(v, 6)}" for k, v in d.metrics.items()), highlight=False)
    if d.feedback:
        c.print(f"feedback: {escape(d.feedback)}", highlight=False)
    lang = queries.run_config(ref.engine, ref.run_id).language
    print_code(c, d.code, lang, line_numbers=True)


def top_cmd(
    run: RunArg = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    n: Annotated[int, typer.Option("-n", help="how many programs")] = 10,
    front: Annotated[bool, typer.Option("--front", help="the Pareto front of the problem's [objectives]")] = False,
) -> None:
    """The N best programs, or (--front) the programs no other beats on every objective."""
    ref = _locate(run, db)
    if front:
        return _print_front(ref, json_out)
    rows = queries.top(ref.engine, ref.run_id, max(1, n))
    if json_out:
        return print_json(rows)
    console().print(program_table(rows, f"top {len(rows)} of {ref.name}"))


def _print_front(ref: RunRef, json_out: bool) -> None:
    found = run_front(ref.engine, ref.run_id)
    if not found.objectives:
        raise _fail(f"run {ref.name}: its problem names no [objectives] (problem.toml), so it has no front")
    if json_out:
        return print_json({"objectives": found.objectives, "front": found.front})
    console().print(front_table(found, f"Pareto front of {ref.name}: {len(found.front)} programs"))


def lineage_cmd(
    run: RunArg = None,
    program: Annotated[str | None, typer.Argument(help="a program id (default: the best)")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    diffs: Annotated[bool, typer.Option("--diffs", help="print the diff of each step")] = False,
) -> None:
    """The ancestry of a program from the initial program, with each step's score change."""
    ref = _locate(run, db)
    try:
        steps = history.lineage(ref.engine, ref.run_id, _int_arg(program, "PROGRAM"), with_diffs=diffs or json_out)
    except queries.QueryError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        return print_json(steps)
    c = console()
    first, last = steps[0].program, steps[-1].program
    gain = (last.score - first.score) if last.score is not None and first.score is not None else None
    t = Table(
        title=f"lineage of program {last.id}: {len(steps)} steps, score "
        f"{number(first.score)} → {number(last.score)}" + (f" ({gain:+.4f})" if gain is not None else ""),
        title_justify="left",
    )
    for col in ("step", "program", "gen", "iteration", "island", "mutation", "model", "status", "score", "change"):
        t.add_column(
            col,
            justify="right" if col in ("step", "program", "gen", "iteration", "island", "score", "change") else "left",
        )
    for i, s in enumerate(steps):
        p = s.program
        t.add_row(
            str(i),
            str(p.id),
            str(p.generation),
            str(p.iteration),
            str(p.island),
            p.mutation
            + (f" (and {s.second_parent_id})" if s.second_parent_id is not None else "")
            + (escape(f" [hint {', '.join(map(str, s.hint_ids))}]") if s.hint_ids else ""),
            p.model or "–",
            p.status,
            number(p.score, 6),
            delta(s.delta),
        )
    c.print(t)
    if diffs:
        for s in steps[1:]:
            c.rule(f"program {s.program.parent_id} → {s.program.id}  {delta(s.delta)}")
            print_code(c, s.diff or "(no diff recorded)", "diff")


def diff_cmd(
    run: RunArg = None,
    a: Annotated[str | None, typer.Argument(help="program A (default: the parent of B)")] = None,
    b: Annotated[str | None, typer.Argument(help="program B (default: the best)")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The diff between two programs (default: the best against its parent), in colour."""
    ref = _locate(run, db)
    try:
        d = history.diff(ref.engine, ref.run_id, _int_arg(a, "A"), _int_arg(b, "B"))
    except queries.QueryError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        return print_json(d)
    c = console()
    change = (d.b.score - d.a.score) if d.a.score is not None and d.b.score is not None else None
    c.print(
        f"program {d.a.id} (score {number(d.a.score, 6)}) → program {d.b.id} (score {number(d.b.score, 6)}) "
        f"{delta(change)}" + (f" · {d.b.mutation} by {d.b.model}" if d.b.model else ""),
        highlight=False,
    )
    if d.second_parent_id is not None:  # a crossover: the diff is against one parent; the other is named
        c.print(f"second parent: program {d.second_parent_id} (evolve diff RUN {d.second_parent_id} {d.b.id})")
    print_code(c, d.text or "(the two programs are identical)\n", "diff")


def export_cmd(
    run: RunArg = None,
    db: DbOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl: one candidate per line")] = "jsonl",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to FILE (default: stdout)")] = None,
    code: Annotated[bool, typer.Option("--code/--no-code", help="include each program's code")] = True,
) -> None:
    """Every candidate with its prompt, answer, diff and metrics (the data people fine-tune on)."""
    if fmt != "jsonl":
        raise _fail(f"--format {fmt!r} is not supported (use jsonl)")
    ref = _locate(run, db)
    count = 0
    with open(output, "w", encoding="utf-8") if output is not None else contextlib.nullcontext(sys.stdout) as out:
        try:
            for row in export_rows(ref.engine, ref.run_id, include_code=code):
                out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                count += 1
        except BrokenPipeError:  # `evolve export RUN | head`: the reader has what it wanted
            sys.stderr.close()
            os._exit(0)
    if output is not None:
        Console(stderr=True).print(f"wrote {count:,} candidates to {output}", highlight=False)


def report_cmd(
    run: RunArg = None,
    db: DbOpt = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="the HTML file (default: RUN/report.html)")
    ] = None,
) -> None:
    """Write one self-contained HTML report (plots included; it opens offline)."""
    from evolve.inspect.report import write_report

    ref = _locate(run, db)
    path = output or ((ref.folder / "report.html") if ref.folder else Path("report.html"))
    write_report(ref.engine, ref.run_id, path, ref.url)
    console().print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False)


def ui_cmd(
    run: RunArg = None,
    db: DbOpt = None,
    port: Annotated[int, typer.Option(help="the port (0: any free port)")] = 8765,
    host: Annotated[str, typer.Option(help="the address to listen on (keep it loopback)")] = "127.0.0.1",
    poll: Annotated[float, typer.Option(help="seconds between the page's refreshes")] = 3.0,
    open_browser: Annotated[bool, typer.Option("--open", help="open the page in a browser")] = False,
) -> None:
    """Serve a live page on loopback that refreshes while the run writes (Ctrl-C stops it)."""
    from evolve.inspect.server import serve

    ref = _locate(run, db)
    if host not in ("127.0.0.1", "localhost", "::1"):
        Console(stderr=True).print(
            f"[yellow]warning: serving on {host}: anyone who can reach it can read the run's code and prompts[/yellow]"
        )

    def ready(server) -> None:
        console().print(f"serving run [bold]{ref.name}[/bold] at {server.url}  (Ctrl-C stops)")

    try:
        serve(ref, host, port, int(poll * 1000), open_browser=open_browser, ready=ready)
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (try --port 0)") from None


COMMANDS: dict[str, Callable[..., None]] = {
    "runs": runs_cmd,
    "show": show_cmd,
    "best": best_cmd,
    "top": top_cmd,
    "lineage": lineage_cmd,
    "diff": diff_cmd,
    "export": export_cmd,
    "report": report_cmd,
    "ui": ui_cmd,
}


def register(app: typer.Typer) -> None:
    """Add the inspection commands to the `evolve` app."""
    for name, fn in COMMANDS.items():
        app.command(name, help=fn.__doc__)(fn)


def build_app() -> typer.Typer:
    """A stand-alone app with only these commands (tests; `python -m evolve.inspect.commands`)."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, help="Inspect evolve runs.")
    register(app)
    return app


if __name__ == "__main__":
    build_app()()
