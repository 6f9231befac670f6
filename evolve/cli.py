"""The `evolve` command line: run, check, new, sandbox, and the run-inspection commands."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import errno
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from evolve import __version__, logs
from evolve.diskfull import disk_full_message, filled
from evolve.errors import EvolveError, OptionError
from evolve.problem import load_problem, problem_from_files, run_defaults
from evolve.terminal import console, err, fail, sandbox_choice, show_problem_warnings, warn, warn_if_process

if TYPE_CHECKING:
    from evolve.engine.options import RunOptions
    from evolve.mutate.llm import ModelSpec

log = logging.getLogger("evolve.cli")

app = typer.Typer(
    help="Evolve better programs: LLM mutations, sandboxed evaluation, a Ray engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main() -> None:
    """The console script: an expected error is one line and exit 1; our bugs log a traceback.
    A command that ends (well or not) ends the process at once: see `exit_now`."""
    global _ENDS_WITH_EXIT_NOW
    _ENDS_WITH_EXIT_NOW = True
    try:
        _main()
    except SystemExit as exc:
        exit_now(exc.code)


_ENDS_WITH_EXIT_NOW = False  # run as the console script: every command ends in exit_now (os._exit)


def exit_now(code: int | str | None) -> None:
    """Run the exit handlers (Ray's, the temporary folders' finalizers), flush what was printed,
    and end the process without the interpreter's teardown: collecting every module and Ray's
    native destructors took 2 s after a run had finished. Everything a command writes is
    committed or closed before it returns; model calls still in flight are abandoned, not waited on."""
    import atexit

    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code or 0)


def _main() -> None:
    try:
        app()
    except EvolveError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except OSError as exc:
        if exc.errno != errno.EROFS and filled(exc) is None:
            raise
        # The machine's fault, said in one line: what is committed in the store is kept.
        path = f" ({exc.filename})" if exc.filename else ""
        err.print(
            f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(path)}: free some space and "
            "continue with evolve run --resume",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
    except Exception as exc:
        full = filled(exc)  # a full disk under the database (at the start, say): one line too
        if full is not None:
            message = disk_full_message(full, "evolve run --resume")
            err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            sys.exit(1)
        log.exception("internal error")
        where = logs.current_log_file()
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}"
            + (f" (traceback in {where})" if where else ""),
            highlight=False,
            soft_wrap=True,
        )
        if where is None:
            raise
        sys.exit(2)


def _show_version(value: bool) -> None:
    if value:
        console.print(f"evolve {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="Show warnings and errors as they happen (they always go to the run's evolve.log).",
    ),
) -> None:
    logs.configure(verbose)


def _parse_models(models: list[str], api_base: str | None) -> tuple[ModelSpec, ...]:
    """--model name[@weight] (repeatable) and --api-base, as the run's models."""
    from evolve.mutate.llm import ModelSpec

    out = []
    for spec in models:
        name, _, weight = spec.partition("@")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise OptionError(
                f"--model {spec!r}: the weight after '@' must be a number (e.g. openai/gpt-4o@2)"
            ) from None
        out.append(ModelSpec(name, weight=w, api_base=api_base or None))
    return tuple(out)


def _strategy(name: str | None) -> str | None:
    from evolve.search.strategy import Strategy

    if name is None:
        return None
    try:
        return str(Strategy(name))
    except ValueError:
        choices = ", ".join(s.value for s in Strategy)
        raise OptionError(f"--strategy {name!r}: not a strategy (choose one of {choices})") from None


@app.command()
def run(
    problem_dir: Path | None = typer.Argument(
        None,
        help="A problem folder (problems/<name>, or an OpenEvolve/ShinkaEvolve/SkyDiscover one), or a program file.",
    ),
    evaluator: Path | None = typer.Argument(None, help="With a program file: its evaluator file (no problem.toml)."),
    iterations: int | None = typer.Option(
        None, "--iterations", "-n", min=0, help="Candidates to propose (default 100)."
    ),
    model: list[str] = typer.Option([], "--model", "-m", help="litellm model name, optionally @weight; repeatable."),
    api_base: str | None = typer.Option(None, help="OpenAI-compatible server for the models."),
    resume: Path | None = typer.Option(None, help="Continue a stopped or killed run (its folder)."),
    name: str | None = typer.Option(None, help="Run name (default: <problem>-<date>-<time>)."),
    db: str | None = typer.Option(None, help="SQLAlchemy URL of the store (default: SQLite in the run folder)."),
    runs_dir: Path = typer.Option(Path("runs"), help="Where run folders go."),
    sandbox: str | None = typer.Option(None, help="docker or process (default: docker when an engine answers)."),
    llm_concurrency: int | None = typer.Option(None, min=1, help="Model calls in flight at once (default 8)."),
    eval_workers: int | None = typer.Option(
        None, min=1, help="Evaluations at once (default: as many as the cluster's nodes can run)."
    ),
    max_seconds: float | None = typer.Option(None, help="Stop after this wall time."),
    max_cost: float | None = typer.Option(None, help="Stop when model spending reaches this many USD."),
    target_score: float | None = typer.Option(None, help="Stop when the best score reaches this."),
    seed: int | None = typer.Option(None, help="Seed for every random choice (default 0)."),
    ray_address: str | None = typer.Option(None, help="Join an existing Ray cluster instead of starting one."),
    infra_wait: float | None = typer.Option(
        None,
        min=0,
        help="Seconds to wait for broken machinery (the Docker engine, a Ray node) before the run stops (default 300).",
    ),
    strategy: str | None = typer.Option(
        None, help="evolve (default), or a baseline: random (the offline mutator) or best-of-n (docs/search.md)."
    ),
    patience: int | None = typer.Option(
        None, min=1, help="Stop when the best has not improved in this many evaluated candidates."
    ),
    model_timeout: float | None = typer.Option(
        None, help="Seconds one model call may take, for every model (default: each model's timeout in problem.toml)."
    ),
    model_retries: int | None = typer.Option(
        None, help="Retries of a failed model call, for every model (default: each model's retries in problem.toml)."
    ),
) -> None:
    """Evolve a problem's program; or continue a run with --resume."""
    from evolve.engine.options import RunOptions

    overrides = _given(
        iterations=iterations,
        llm_concurrency=llm_concurrency,
        eval_workers=eval_workers,
        max_seconds=max_seconds,
        max_cost=max_cost,
        target_score=target_score,
        seed=seed,
        infra_wait=infra_wait,
        strategy=_strategy(strategy),
        patience=patience,
        model_timeout=model_timeout,
        model_retries=model_retries,
    )
    if model:
        overrides["models"] = _parse_models(model, api_base)
    run_name: str | None
    db_url: str | None
    if resume is not None:
        problem, options, run_name, db_url, runs_root = _resumed(resume, db, overrides, sandbox)
    else:
        if problem_dir is None:
            raise OptionError("give a problem folder (evolve run problems/<name>) or --resume runs/<run>")
        problem = load_problem(problem_dir) if evaluator is None else problem_from_files(problem_dir, evaluator)
        options = RunOptions(sandbox=sandbox_choice(sandbox), **{**run_defaults(problem), **overrides})
        run_name, db_url, runs_root = name, db, runs_dir
    show_problem_warnings(problem)
    warn_if_process(options.sandbox)
    _run_and_report(problem, options, runs_root, run_name, db_url, ray_address, resume is not None)


def _given(**options: Any) -> dict[str, Any]:
    """The run options given on the command line (None: not given)."""
    return {k: v for k, v in options.items() if v is not None}


def _resumed(resume: Path, db: str | None, overrides: dict[str, Any], sandbox: str | None):
    """A resumed run's problem, options (its saved ones, the command line's over them), name,
    store and runs folder."""
    from evolve.engine.run import load_run_for_resume

    problem, config, run_name, db_url, run_dir = load_run_for_resume(str(resume), db)
    options = replace(config.options, **overrides)
    if sandbox is not None:
        options = replace(options, sandbox=sandbox_choice(sandbox))
    return problem, options, run_name, db_url, run_dir.parent


def _run_and_report(problem, options, runs_root: Path, run_name, db_url, ray_address, resumed: bool) -> None:
    """Run, stop the local Ray, print the summary; a failed run exits non-zero."""
    from evolve.engine.run import stop_local_ray

    try:
        result = _run_with_progress(problem, options, runs_root, run_name, db_url, ray_address, resumed)
    except BaseException:
        stop_local_ray()
        raise
    _print_summary(result)  # the run is stored and its outputs written: the user reads this first
    logs.milestone("summary printed")
    # The console script ends next (main's exit_now): Ray's processes are killed, not asked to stop.
    stop_local_ray(process_ends=_ENDS_WITH_EXIT_NOW)
    if result.status == "failed":
        fail(f"run {result.run_name}: {result.stop_reason}")


@app.command("import")
def import_peer(
    folder: Path = typer.Argument(..., help="An OpenEvolve, ShinkaEvolve or SkyDiscover problem folder."),
    out: Path | None = typer.Option(None, "-o", "--out", help="The new folder (default: problems/<folder's name>)."),
) -> None:
    """Write a native problem folder (problem.toml, the peer's files) from a peer's folder."""
    from evolve.peers.importer import import_folder

    peer, problem = import_folder(folder, out or Path("problems") / folder.resolve().name)
    console.print(
        f"{problem.root}: imported from {peer.origin} ({len(peer.unmapped)} settings not mapped: see its README.md)"
    )
    console.print(f"check it with: evolve check {problem.root}")


def _run_with_progress(problem, options, runs_root, run_name, db_url, ray_address, resume):
    from rich.live import Live

    from evolve.engine.options import Progress
    from evolve.engine.run import evolve_run

    state = {"started": time.monotonic()}

    def render(p) -> Table:
        t = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - state["started"]
        best = f"{p.best_score:.6g}" if p.best_score is not None else "-"
        t.add_row(
            f"[bold]{problem.name}[/]",
            f"candidates {p.completed}/{options.iterations}",
            f"best [bold green]{best}[/]",
            f"failed {p.failed}",
            f"rejected {p.rejected}",
            f"cost ${p.cost:.4f}",
            f"{elapsed:.0f} s",
        )
        if p.last_event:
            t.add_row("", f"[dim]{escape(p.last_event[:100])}[/]")
        return t

    def on_start(mutator: str, options: RunOptions) -> None:
        from evolve.mutate.offline import OFFLINE_MUTATOR

        if mutator == OFFLINE_MUTATOR:
            _say_offline(problem)
            _warn_unused_models(problem, options)
        else:
            console.print(f"[bold]mutator:[/] {mutator}")
        console.print(
            f"[bold]sandbox:[/] {options.sandbox}   [bold]evaluations at once:[/] {options.eval_workers}   "
            f"[bold]model calls at once:[/] {options.llm_concurrency}"
        )

    interactive = console.is_terminal
    live = Live(render(Progress()), console=console, refresh_per_second=4, transient=False) if interactive else None
    last_print = [0.0]

    def on_progress(p) -> None:
        if live is not None:
            live.update(render(p))
        elif time.monotonic() - last_print[0] > 5 or p.completed >= options.iterations:
            last_print[0] = time.monotonic()  # not a terminal (a log file, CI): one plain line
            best = f"{p.best_score:.6g}" if p.best_score is not None else "-"
            console.print(
                f"{problem.name}: candidates {p.completed}/{options.iterations}, best {best}, "
                f"failed {p.failed}, rejected {p.rejected}, cost ${p.cost:.4f}, "
                f"{time.monotonic() - state['started']:.0f} s",
                soft_wrap=True,
                highlight=False,
            )

    try:
        if live is not None:
            live.start()
        return evolve_run(
            problem,
            options,
            runs_root=runs_root,
            run_name=run_name,
            db_url=db_url,
            ray_address=ray_address,
            resume=resume,
            on_progress=on_progress,
            on_start=on_start,
        )
    finally:
        if live is not None:
            live.stop()


def _say_offline(problem) -> None:
    """The offline mutator's start lines: what it is, and what it can change in this problem."""
    from evolve.mutate.offline import describe_offline_limits, describe_offline_targets

    console.print(
        "[bold yellow]mutator: offline[/] (no model configured and no provider key: random edits "
        "inside the EVOLVE-BLOCKs, a random-search baseline)",
        soft_wrap=True,
    )
    targets = describe_offline_targets(problem.initial_code, problem.language)
    log.info("%s", targets)  # in the run's evolve.log too
    console.print(targets, highlight=False, soft_wrap=True)
    limits = describe_offline_limits(problem.initial_code, problem.language)
    if limits:
        warn(limits)


def _warn_unused_models(problem, options: RunOptions) -> None:
    """A peer folder's models, left out for want of a key (evolve.engine.run.peer_models_unusable)."""
    if problem.config.models and not options.models:
        warn(
            f"{problem.origin}: its models ({', '.join(m.name for m in problem.config.models)}) "
            "need a provider key (OPENAI_API_KEY for an api_base): none is set, so this run is offline"
        )


def _print_summary(result) -> None:
    p, best = result.progress, result.best
    table = Table(title=f"run {result.run_name}: {result.status} ({result.stop_reason})", show_header=True)
    table.add_column("")
    table.add_column("training score", justify="right")
    table.add_column("held-out score", justify="right")

    def fmt(value):
        return f"{value:.6g}" if value is not None else "-"

    if best:
        table.add_row("initial program", fmt(best.initial_score), fmt(best.initial_heldout_score))
        table.add_row(
            f"best program (#{best.id}, iteration {best.iteration})", fmt(best.score), fmt(best.heldout_score)
        )
    console.print(table)
    console.print(
        f"candidates {p.completed} (evaluated {p.evaluated}, failed {p.failed}, rejected {p.rejected}), "
        f"cost ${p.cost:.4f}, {result.seconds:.1f} s"
    )
    console.print(f"best program: {result.run_dir / 'best'}   database: {result.db_url}")
    console.print(f"continue with: evolve run --resume {result.run_dir} --iterations N")


def _mount_commands() -> None:
    """The inspection commands, `evolve new` and `evolve sandbox` live in their own modules."""
    from evolve.check import register as register_check
    from evolve.inspect.commands import register as register_inspect
    from evolve.rescore import register as register_rescore
    from evolve.sandbox.cli import sandbox_app
    from evolve.scaffold import register as register_new
    from evolve.steer import register as register_hint

    register_check(app)
    register_inspect(app)
    register_new(app)
    register_hint(app)
    register_rescore(app)
    app.add_typer(sandbox_app, name="sandbox", help="Build and manage the Docker evaluation images.")


_mount_commands()


if __name__ == "__main__":
    main()
