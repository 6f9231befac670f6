"""`evolve hint RUN "try a hexagonal lattice"`: tell a running search what to try.

The hint is an event row in the run's store (evolve/store/hints.py); the run's population actor
reads it at its next task, wherever it runs, and its prompts show it until it expires (`--for N`
iterations) or is withdrawn (`--clear`). With neither text nor --clear, the run's hints are listed.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy.engine import Engine

from evolve.errors import OptionError, RunNotFound
from evolve.inspect.locate import RunNotFound as NoSuchRun
from evolve.inspect.locate import RunRef, locate
from evolve.store.db import open_engine
from evolve.store.hints import add_hint, clear_hints, read_hints
from evolve.terminal import console


def writable_run(run: str, db: str | None) -> tuple[RunRef, Engine]:
    """The run RUN names, and an engine that may write to its store."""
    try:
        ref = locate(run, db)
    except NoSuchRun as exc:
        raise RunNotFound(str(exc)) from None
    ref.engine.dispose()  # the reader; writes go through an engine of their own
    return ref, open_engine(ref.url, create=False)


def hint(
    run: Annotated[str, typer.Argument(help="a run folder, a run name under ./runs/, or with --db a run id or name")],
    text: Annotated[str | None, typer.Argument(help="the hint, shown in the run's next prompts")] = None,
    island: Annotated[int | None, typer.Option("--island", help="only this island's prompts show it")] = None,
    for_iterations: Annotated[
        int | None, typer.Option("--for", help="shown for this many iterations (default: until --clear)")
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="withdraw the run's hints (with --island: that island's)")
    ] = False,
    db: Annotated[str | None, typer.Option("--db", help="a database URL (sqlite:///..., postgresql://...)")] = None,
) -> None:
    """Give a running (or stopped, to be resumed) run a hint for its next prompts, or withdraw them."""
    if clear and text is not None:
        raise OptionError("give a hint or --clear, not both")
    ref, engine = writable_run(run, db)
    try:
        if clear:
            ids = clear_hints(engine, ref.run_id, island)
            console.print(f"withdrew {len(ids)} hint{'s' * (len(ids) != 1)}" + (f": {ids}" if ids else ""))
        elif text is not None:
            h = add_hint(engine, ref.run_id, text, island, for_iterations)
            where = "every island" if island is None else f"island {island}"
            until = "until withdrawn" if h.until is None else f"through iteration {h.until}"
            console.print(f"hint {h.id} for {where}, from iteration {h.iteration}, {until}", highlight=False)
        else:
            with engine.connect() as conn:
                hints = read_hints(conn, ref.run_id)
            for h in hints:
                state = "withdrawn" if h.cleared_at is not None else ""
                console.print(f"{h.id}  iteration {h.iteration}  {state}  {escape(h.text)}", highlight=False)
            if not hints:
                console.print("no hints")
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("hint")(hint)
