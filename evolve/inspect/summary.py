"""A run's summary: counts, the best, best per island, failures and rejections grouped by reason,
per-model figures, recent events (`summary`, and `collect_summary` inside a caller's snapshot)."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import and_, case, func, inspect, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased

from evolve.inspect.hint_rows import hint_rows
from evolve.inspect.queries import best_program_id, briefs, run_row, run_rows
from evolve.inspect.rows import EventRow, InsightRow, IslandBest, ModelStats, ReasonCount, RunSummary, iso
from evolve.kinds import CallOutcome, EventKind, ProgramStatus
from evolve.search.adaptive import arm_stats
from evolve.store.db import has_column
from evolve.store.models import Event, Insight, LLMCall, Program
from evolve.store.pulls import read_pulls
from evolve.store.run_config import RunConfig

MAX_REASONS = 20
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _mask(text: str) -> str:
    return _NUMBER.sub("N", text)


def kind_from_reason(error: str | None) -> str:
    """A failure's kind read off its reason ('timeout', 'crash'...: the text before ':'). Only for
    rows written before the kind had a column of its own."""
    if not error or not error.strip():
        return "unknown"
    first = error.strip().splitlines()[0]
    head, sep, _ = first.partition(":")
    if sep and 0 < len(head) <= 40:
        return head.strip()
    return _mask(first)[:60]


def failure_reason(error: str | None) -> str:
    """A failure's reason for grouping: its first line, numbers masked, up to the first ';'.

    "candidate rejected: 107 constraint violations; worst: ..." -> "candidate rejected: N constraint
    violations"; "timeout: evaluation ran past 60 s" -> "timeout: evaluation ran past N s".
    """
    if not error or not error.strip():
        return "unknown"
    first = _mask(error.strip().splitlines()[0]).split(";")[0].strip()
    return first if len(first) <= 100 else first[:99] + "…"


def group_reasons(failures: list[tuple[str | None, str | None]]) -> list[ReasonCount]:
    """(kind, reason) pairs grouped by kind and masked reason; a NULL kind is read off the reason."""
    groups: dict[tuple[str, str], Counter] = {}
    for kind, text in failures:
        first = (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""
        key = (kind or kind_from_reason(text), failure_reason(text))
        groups.setdefault(key, Counter())[first] += 1
    out = [ReasonCount(reason, sum(c.values()), c.most_common(1)[0][0], kind) for (kind, reason), c in groups.items()]
    out.sort(key=lambda r: (-r.count, r.reason))
    if len(out) > MAX_REASONS:  # a long tail of one-off messages: one "other" row keeps the total
        rest = out[MAX_REASONS - 1 :]
        out = [
            *out[: MAX_REASONS - 1],
            ReasonCount(f"other ({len(rest)} reasons)", sum(r.count for r in rest), rest[0].example, "other"),
        ]
    return out


def _failures(conn: Connection, run_id: int) -> list[ReasonCount]:
    # An older database has no failure_kind column (readers never alter it): every kind is NULL.
    kind = Program.failure_kind if has_column(conn, "programs", "failure_kind") else literal(None)
    rows = conn.execute(
        select(kind.label("kind"), func.substr(Program.error, 1, 300).label("error")).where(
            Program.run_id == run_id, Program.status == ProgramStatus.FAILED
        )
    ).all()
    return group_reasons([(r.kind, r.error) for r in rows])


def _rejections(conn: Connection, run_id: int) -> list[ReasonCount]:
    text = func.substr(func.coalesce(LLMCall.reject_reason, LLMCall.error), 1, 300).label("message")
    rows = conn.execute(
        select(LLMCall.outcome, text, func.count(LLMCall.id).label("calls"))
        .where(LLMCall.run_id == run_id, LLMCall.outcome.not_in((CallOutcome.CHILD, CallOutcome.JUDGE)))
        .group_by(LLMCall.outcome, text)
    ).all()
    groups: dict[tuple[str, str], Counter] = {}
    for r in rows:
        key = f"{r.outcome}: {failure_reason(r.message)}" if r.message else r.outcome
        groups.setdefault((key, r.outcome), Counter())[(r.message or "").strip()[:300]] += r.calls
    out = [ReasonCount(key, sum(c.values()), c.most_common(1)[0][0], outcome) for (key, outcome), c in groups.items()]
    return sorted(out, key=lambda r: (-r.count, r.reason))


def _answers(conn: Connection, run_id: int) -> tuple[dict[str, tuple[int, int, int, int]], dict[str, dict[str, int]]]:
    """Per model: (iterations, answers retried, children at the first answer, children at all),
    and its calls by answer form. Empty for a database from before these columns."""
    if not has_column(conn, "llm_calls", "attempt"):
        return {}, {}
    final = LLMCall.retried.is_not(True)  # the iteration's outcome: its answer that was not sent back
    child = and_(final, LLMCall.outcome == CallOutcome.CHILD)
    per_iteration = {
        r.model: (int(r.iterations or 0), int(r.retried or 0), int(r.first or 0), int(r.children or 0))
        for r in conn.execute(
            select(
                LLMCall.model,
                func.sum(case((final, 1), else_=0)).label("iterations"),
                func.sum(case((LLMCall.retried.is_(True), 1), else_=0)).label("retried"),
                func.sum(case((and_(child, func.coalesce(LLMCall.attempt, 1) == 1), 1), else_=0)).label("first"),
                func.sum(case((child, 1), else_=0)).label("children"),
            )
            .where(LLMCall.run_id == run_id)
            .group_by(LLMCall.model)
        ).all()
    }
    forms: dict[str, dict[str, int]] = {}
    for r in conn.execute(
        select(LLMCall.model, LLMCall.answer_form, func.count(LLMCall.id).label("calls"))
        .where(LLMCall.run_id == run_id, LLMCall.answer_form.is_not(None))
        .group_by(LLMCall.model, LLMCall.answer_form)
        .order_by(LLMCall.model, func.count(LLMCall.id).desc(), LLMCall.answer_form)
    ).all():
        forms.setdefault(r.model, {})[r.answer_form] = int(r.calls)
    return per_iteration, forms


def _children_by_form(conn: Connection, run_id: int) -> dict[str, dict[str, int]]:
    """Per model, the children each answer form gave (a salvage rule's yield among them)."""
    if not has_column(conn, "llm_calls", "answer_form"):
        return {}
    out: dict[str, dict[str, int]] = {}
    for r in conn.execute(
        select(LLMCall.model, LLMCall.answer_form, func.count(LLMCall.id).label("children"))
        .where(LLMCall.run_id == run_id, LLMCall.answer_form.is_not(None), LLMCall.outcome == CallOutcome.CHILD)
        .group_by(LLMCall.model, LLMCall.answer_form)
    ).all():
        out.setdefault(r.model, {})[r.answer_form] = int(r.children)
    return out


def _models(conn: Connection, run_id: int) -> list[ModelStats]:
    child, parent = aliased(Program), aliased(Program)
    improved = {
        r.model: r.improved
        for r in conn.execute(
            select(LLMCall.model, func.count(child.id).label("improved"))
            .select_from(child)
            .join(LLMCall, LLMCall.id == child.llm_call_id)
            .join(parent, parent.id == child.parent_id)
            .where(
                child.run_id == run_id,
                child.status == ProgramStatus.OK,
                child.score.is_not(None),
                parent.score.is_not(None),
                child.score > parent.score,
            )
            .group_by(LLMCall.model)
        ).all()
    }

    def count(outcome: CallOutcome):
        return func.sum(case((LLMCall.outcome == outcome, 1), else_=0))

    rows = conn.execute(
        select(
            LLMCall.model,
            func.count(LLMCall.id).label("calls"),
            func.sum(case((LLMCall.outcome == CallOutcome.ERROR, 1), (LLMCall.error.is_not(None), 1), else_=0)).label(
                "errors"
            ),
            func.sum(LLMCall.prompt_tokens).label("prompt_tokens"),
            func.sum(LLMCall.completion_tokens).label("completion_tokens"),
            func.sum(LLMCall.cost).label("cost"),
            func.avg(LLMCall.latency).label("latency"),
            count(CallOutcome.CHILD).label("children"),
            count(CallOutcome.REJECTED).label("rejected"),
            count(CallOutcome.DUPLICATE).label("duplicates"),
        )
        .where(LLMCall.run_id == run_id)
        .group_by(LLMCall.model)
        .order_by(LLMCall.model)
    ).all()
    per_iteration, forms = _answers(conn, run_id)
    form_children = _children_by_form(conn, run_id)
    out = []
    for r in rows:
        better, children = int(improved.get(r.model, 0)), int(r.children or 0)
        iterations, retried, first, made = per_iteration.get(r.model, (r.calls, 0, children, children))
        out.append(
            ModelStats(
                model=r.model,
                calls=r.calls,
                errors=int(r.errors or 0),
                prompt_tokens=int(r.prompt_tokens or 0),
                completion_tokens=int(r.completion_tokens or 0),
                cost=float(r.cost or 0.0),
                mean_latency=float(r.latency or 0.0),
                children=children,
                rejected=int(r.rejected or 0),
                duplicates=int(r.duplicates or 0),
                improved=better,
                applied_share=children / r.calls if r.calls else 0.0,
                improved_share=better / r.calls if r.calls else 0.0,
                iterations=iterations,
                retried=retried,
                first_try_share=first / iterations if iterations else 0.0,
                after_retry_share=made / iterations if iterations else 0.0,
                answer_forms=forms.get(r.model, {}),
                form_children=form_children.get(r.model, {}),
            )
        )
    return out


def _islands(conn: Connection, run_id: int) -> list[IslandBest]:
    ok = Program.status == ProgramStatus.OK
    stats = conn.execute(
        select(
            Program.island,
            func.count(Program.id).label("candidates"),
            func.sum(case((ok, 1), else_=0)).label("ok"),
            func.max(case((ok, Program.score), else_=None)).label("best"),
        )
        .where(Program.run_id == run_id)
        .group_by(Program.island)
        .order_by(Program.island)
    ).all()
    best_by_island = (
        select(Program.island.label("island"), func.max(Program.score).label("score"))
        .where(Program.run_id == run_id, ok, Program.score.is_not(None))
        .group_by(Program.island)
        .subquery()
    )
    ids = {
        r.island: r.program_id
        for r in conn.execute(
            select(Program.island, func.min(Program.id).label("program_id"))
            .join(
                best_by_island, and_(best_by_island.c.island == Program.island, best_by_island.c.score == Program.score)
            )
            .where(Program.run_id == run_id, ok)
            .group_by(Program.island)
        ).all()
    }
    return [IslandBest(r.island, ids.get(r.island), r.best, r.candidates, int(r.ok or 0)) for r in stats]


def _events(conn: Connection, run_id: int, limit: int = 20) -> list[EventRow]:
    rows = conn.execute(
        select(Event.id, Event.kind, Event.message, Event.created_at)
        .where(Event.run_id == run_id)
        .order_by(Event.id.desc())
        .limit(limit)
    ).all()
    return [EventRow(r.id, r.kind, r.message, iso(r.created_at)) for r in rows]


def _insights(conn: Connection, run_id: int) -> list[InsightRow]:
    """The run's scratchpads, newest first (none in a database from before the table)."""
    if not inspect(conn).has_table(Insight.__tablename__):
        return []
    rows = conn.execute(select(Insight).where(Insight.run_id == run_id).order_by(Insight.id.desc())).all()
    return [
        InsightRow(
            r.id,
            r.iteration,
            r.text,
            list(r.program_ids or []),
            r.model,
            int(r.prompt_tokens or 0) + int(r.completion_tokens or 0),
            float(r.cost or 0.0),
            r.error,
            iso(r.created_at),
        )
        for r in rows
    ]


def _arms(conn: Connection, run_id: int, config: RunConfig) -> list:
    """The bandits' arms (`ArmRow`s) as the stored iterations left them: the rows a resumed run replays."""
    from evolve.inspect.rows import ArmRow

    models = {m.name: m.weight for m in config.models}
    mutation = config.problem.get("mutation") or {}
    kinds = {k: float(mutation.get(k, w)) for k, w in (("diff", 0.7), ("full", 0.3), ("crossover", 0.1), ("fix", 0.1))}
    bandit = config.problem.get("bandit") or {}
    stats = arm_stats(
        read_pulls(conn, run_id),
        models,
        kinds,
        float(bandit.get("prior_pulls", 4.0)),
        float(bandit.get("cost_weight", 1.0)),
    )
    return [
        ArmRow(name, a.arm, a.pulls, a.improved, a.mean_reward, a.cost, a.weight)
        for name, arms in stats.items()
        for a in arms
        if a.pulls or a.weight > 0
    ]


def summary(engine: Engine, run_id: int, url: str = "") -> RunSummary:
    with engine.connect() as conn:
        return collect_summary(conn, run_id, url)


def collect_summary(conn: Connection, run_id: int, url: str = "") -> RunSummary:
    run = run_row(conn, run_id)
    row = run_rows(conn, url, run_id)[0]
    counts = {
        r.status: r.programs
        for r in conn.execute(
            select(Program.status, func.count(Program.id).label("programs"))
            .where(Program.run_id == run_id)
            .group_by(Program.status)
        ).all()
    }
    # An iteration is done when its proposal ended without a child, or its child was evaluated.
    # An answer sent back to the model is not its iteration's end (older databases have no retries).
    final = LLMCall.retried.is_not(True) if has_column(conn, "llm_calls", "retried") else literal(True)
    no_child = conn.execute(
        select(func.count(LLMCall.id)).where(LLMCall.run_id == run_id, LLMCall.outcome != CallOutcome.CHILD, final)
    ).scalar()
    evaluated = conn.execute(
        select(func.count(Program.id)).where(
            Program.run_id == run_id,
            Program.iteration > 0,
            Program.status.in_((ProgramStatus.OK, ProgramStatus.FAILED)),
        )
    ).scalar()
    done = (no_child or 0) + (evaluated or 0)
    pid = best_program_id(conn, run_id)
    best_brief = briefs(conn, run_id, Program.id == pid)[0] if pid is not None else None
    spent = conn.execute(
        select(
            func.sum(LLMCall.prompt_tokens + LLMCall.completion_tokens).label("tokens"),
            func.sum(LLMCall.cost).label("cost"),
        ).where(LLMCall.run_id == run_id)
    ).one()
    insights = _insights(conn, run_id)
    heldout = run.heldout_score
    if heldout is None and best_brief is not None:
        heldout = best_brief.heldout_score
    return RunSummary(
        run=row,
        problem_path=run.problem_path,
        seed=run.seed,
        sandbox=run.sandbox,
        mutator=run.mutator,
        stop_reason=run.stop_reason,
        iterations_target=run.iterations_target,
        iterations_done=int(done or 0),
        status_counts=counts,
        best=best_brief,
        heldout_score=heldout,
        has_heldout=RunConfig.from_json(run.config).has_heldout,
        islands=_islands(conn, run_id),
        failures=_failures(conn, run_id),
        rejections=_rejections(conn, run_id),
        models=_models(conn, run_id),
        tokens=int(spent.tokens or 0) + sum(i.tokens for i in insights),
        cost=float(spent.cost or 0.0) + sum(i.cost for i in insights),  # the insight calls are the run's too
        events=_events(conn, run_id),
        arms=_arms(conn, run_id, RunConfig.from_json(run.config)),
        resets=int(
            conn.execute(
                select(func.count(Event.id)).where(Event.run_id == run_id, Event.kind == EventKind.RESET)
            ).scalar()
            or 0
        ),
        insights=insights,
        hints=hint_rows(conn, run_id),
    )
