"""How the inspection commands print: numbers, durations, money, tables, code, JSON, the summary.

Colour and tables on a terminal; plain, whole lines when piped (logs, tests, `| patch`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from evolve.inspect.front import RunFront
from evolve.inspect.rows import ProgramBrief, RunSummary, to_jsonable
from evolve.kinds import ProgramStatus


def console() -> Console:
    # Piped output is not cut to 80 columns: tables stay whole in logs and tests.
    return Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)


def print_code(c: Console, text: str, lexer: str, line_numbers: bool = False) -> None:
    """Colour on a terminal; plain text when piped (so `evolve diff RUN | patch` and files work)."""
    if sys.stdout.isatty():
        c.print(Syntax(text, lexer, line_numbers=line_numbers, word_wrap=False))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n")


def number(x: Any, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def delta(x: float | None) -> str:
    if x is None:
        return "[dim]–[/dim]"
    colour = "green" if x > 0 else "red" if x < 0 else "dim"
    return f"[{colour}]{x:+.4f}[/{colour}]"


def duration(s: float | None) -> str:
    if s is None:
        return "–"
    h, rest = divmod(int(s), 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {sec:02d}s" if m else f"{sec}s"


def money(x: float) -> str:
    return f"${x:.4f}" if x < 1 else f"${x:,.2f}"


def program_table(rows: list[ProgramBrief], title: str) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("rank", "program", "score", "held-out", "island", "gen", "iteration", "mutation", "model"):
        t.add_column(col, justify="left" if col in ("mutation", "model") else "right")
    for i, p in enumerate(rows, 1):
        t.add_row(
            str(i),
            str(p.id),
            number(p.score, 6),
            number(p.heldout_score, 6),
            str(p.island),
            str(p.generation),
            str(p.iteration),
            p.mutation,
            p.model or "–",
        )
    return t


def front_table(found: RunFront, title: str) -> Table:
    """The front's programs, one column per objective (its direction in the header)."""
    t = Table(title=title, title_justify="left")
    for col in (
        "program",
        *(f"{o.name} ({o.direction[:3]})" for o in found.objectives),
        "score",
        "island",
        "iteration",
    ):
        t.add_column(col, justify="right")
    for p in found.front:
        t.add_row(str(p.id), *(f"{v:.6g}" for v in p.values), number(p.score, 6), str(p.island), str(p.iteration))
    return t


def print_search(c: Console, s: RunSummary) -> None:
    """Where the calls went: each bandit arm's pulls, mean reward and cost; novelty rejections; resets."""
    if s.arms:
        t = Table(title="search: the bandits' arms (reward: 0 no gain, 0.5-1 an improvement)", title_justify="left")
        for col in ("bandit", "arm", "weight", "pulls", "improved", "mean reward", "cost"):
            t.add_column(col, justify="left" if col in ("bandit", "arm") else "right")
        for a in s.arms:
            t.add_row(
                a.bandit,
                a.arm,
                f"{a.weight:g}",
                f"{a.pulls:,}",
                f"{a.improved:,}",
                f"{a.mean_reward:.3f}",
                money(a.cost),
            )
        c.print(t)
    near = sum(r.count for r in s.rejections if r.kind == "near_duplicate")
    if s.arms or near or s.resets:
        c.print(f"novelty rejections {near:,} (evaluations saved) · island resets {s.resets:,}", highlight=False)


def print_summary(c: Console, s: RunSummary, url: str) -> None:
    """`evolve show`: the run, its best, best per island, failures, models, rejections, events."""
    _print_run(c, s, url)
    t = Table(title="best per island", title_justify="left")
    for col in ("island", "best score", "program", "candidates", "ok"):
        t.add_column(col, justify="right")
    for i in s.islands:
        t.add_row(str(i.island), number(i.score, 6), number(i.program_id), number(i.candidates), number(i.ok))
    c.print(t)
    _print_failures(c, s)
    _print_models(c, s)
    print_search(c, s)
    if s.rejections:
        t = Table(title="rejected edits and failed model calls", title_justify="left")
        t.add_column("outcome: reason")
        t.add_column("calls", justify="right")
        for rj in s.rejections:
            t.add_row(escape(rj.reason), f"{rj.count:,}")
        c.print(t)
    if s.insights:
        print_insights(c, s)
    if s.hints:
        print_hints(c, s)
    if s.events:
        c.print("[bold]recent events[/bold]")
        for e in s.events[:5]:
            c.print(f"  {(e.created_at or '').replace('T', ' ')}  {e.kind:<10} {escape(e.message)}", highlight=False)


def _print_run(c: Console, s: RunSummary, url: str) -> None:
    """The run's line, its counts, its best and the best's held-out score."""
    r = s.run
    c.print(
        f"[bold]{r.name}[/bold]  problem [cyan]{r.problem}[/cyan]  status [bold]{r.status}[/bold]"
        + (f" ({s.stop_reason})" if s.stop_reason else ""),
        highlight=False,
    )
    c.print(
        f"{s.mutator} · sandbox {s.sandbox} · seed {s.seed} · started {(r.created_at or '–').replace('T', ' ')}"
        f" · {duration(r.duration_s)} · {url}",
        highlight=False,
    )
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(s.status_counts.items()))
    target = f" of {s.iterations_target:,}" if s.iterations_target else ""
    c.print(
        f"iterations {s.iterations_done:,}{target} · candidates {r.candidates:,} ({counts}) · "
        f"tokens {s.tokens:,} · cost {money(s.cost)}",
        highlight=False,
    )
    if s.best is None:
        c.print("[yellow]no program has been scored yet[/yellow]")
    else:
        b = s.best
        c.print(
            f"\n[bold green]best score {b.score:.6f}[/bold green]  program {b.id} · island {b.island} · "
            f"generation {b.generation} · iteration {b.iteration}" + (f" · {b.model}" if b.model else ""),
            highlight=False,
        )
        if s.heldout_score is not None:
            held = f"[bold]{s.heldout_score:.6f}[/bold]"
        else:
            held = "[dim]not scored yet[/dim]" if s.has_heldout else "[dim]none (the problem has no held-out set)[/dim]"
        c.print("held-out score " + held, highlight=False)


def _print_failures(c: Console, s: RunSummary) -> None:
    """Failed evaluations by reason, with an example of each."""
    failed = s.status_counts.get(ProgramStatus.FAILED, 0)
    if s.failures:
        t = Table(title=f"failures by reason ({failed:,} failed)", title_justify="left")
        t.add_column("reason")
        t.add_column("programs", justify="right")
        t.add_column("share", justify="right")
        t.add_column("example", overflow="fold")
        for f in s.failures:
            example = "" if f.example == f.reason else (f.example if len(f.example) <= 100 else f.example[:99] + "…")
            t.add_row(escape(f.reason), f"{f.count:,}", f"{f.count / max(1, failed):.0%}", escape(example))
        c.print(t)
    else:
        c.print("no failed evaluations")


def _print_models(c: Console, s: RunSummary) -> None:
    """Per model: calls, tokens, cost, latency and what became of its answers."""
    if s.models:
        t = Table(title="models", title_justify="left")
        for col in (
            "model",
            "calls",
            "errors",
            "prompt tok",
            "completion tok",
            "cost",
            "latency",
            "applied",
            "improved",
            "1st try",
            "after retry",
        ):
            t.add_column(col, justify="left" if col == "model" else "right")
        for m in s.models:
            t.add_row(
                m.model,
                f"{m.calls:,}",
                f"{m.errors:,}",
                f"{m.prompt_tokens:,}",
                f"{m.completion_tokens:,}",
                money(m.cost),
                f"{m.mean_latency:.1f}s",
                f"{m.applied_share:.1%}",
                f"{m.improved_share:.1%}",
                f"{m.first_try_share:.1%}",
                f"{m.after_retry_share:.1%}",
            )
        c.print(t)
        if any(m.answer_forms for m in s.models):
            t = Table(title="answer forms (calls, children)", title_justify="left")
            t.add_column("model")
            t.add_column("forms", overflow="fold")
            t.add_column("retried", justify="right")
            for m in s.models:
                forms = ", ".join(
                    f"{form} {n:,} ({m.form_children.get(form, 0):,})" for form, n in m.answer_forms.items()
                )
                t.add_row(m.model, forms or "-", f"{m.retried:,}")
            c.print(t)


def print_insights(c: Console, s: RunSummary) -> None:
    """The run's scratchpads: the latest in full, the earlier ones by their first line."""
    written = [i for i in s.insights if i.error is None]
    failed = len(s.insights) - len(written)
    note = f", {failed} failed" if failed else ""
    c.print(f"[bold]insights[/bold] ({len(written)} written{note})", highlight=False)
    if written:
        latest = written[0]
        c.print(f"  the latest, after {latest.iteration:,} evaluations ({latest.model}):", highlight=False)
        for line in latest.text.splitlines():
            c.print("    " + line, markup=False, highlight=False)
        for i in written[1:]:
            first = (i.text.splitlines() or [""])[0]
            c.print(f"  after {i.iteration:,}: " + (first if len(first) <= 100 else first[:99] + "…"), markup=False)


def print_hints(c: Console, s: RunSummary) -> None:
    """A person's hints: when each arrived, for which islands, until when, what its children did."""
    t = Table(title="hints", title_justify="left")
    for col in ("hint", "arrived", "islands", "shown until", "children", "improved", "best child", "text"):
        t.add_column(col, justify="left" if col in ("islands", "shown until", "text") else "right")
    for h in s.hints:
        until = "until withdrawn" if h.until is None else f"iteration {h.until}"
        if h.cleared_at is not None:
            until = f"withdrawn at {h.cleared_at}"
        t.add_row(
            str(h.id),
            f"iteration {h.iteration}",
            "all" if h.island is None else str(h.island),
            until,
            str(h.children),
            str(h.improved),
            number(h.best_score, 6),
            escape(h.text),
        )
    c.print(t)
