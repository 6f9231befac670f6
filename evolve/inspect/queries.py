"""Queries over a run database, returning plain dataclasses.

Aggregates run in SQL; code, prompts and answers are read only for the one or few programs that a
command shows (or streamed, for export). Each public function opens one short read transaction
(`with engine.connect()`), so its figures come from one consistent snapshot of a run that may
still be writing.
"""

from __future__ import annotations

from evolve.errors import RunNotFound

import difflib
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import Integer, and_, case, func, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, aliased

from evolve.store.models import Evaluation, Event, LLMCall, Program, Run


class QueryError(RunNotFound):
    """A program or run that the user named is not there (one-line message)."""


# ---------------------------------------------------------------- value types


@dataclass(frozen=True)
class RunRow:
    id: int
    name: str
    problem: str
    status: str
    candidates: int
    ok: int
    failed: int
    best_score: float | None
    heldout_score: float | None
    cost: float
    created_at: str | None
    updated_at: str | None
    duration_s: float | None
    url: str = ""


@dataclass(frozen=True)
class ProgramBrief:
    id: int
    parent_id: int | None
    island: int
    generation: int
    iteration: int
    mutation: str
    status: str
    score: float | None
    heldout_score: float | None
    model: str | None
    created_at: str | None


@dataclass(frozen=True)
class ProgramDetail:
    brief: ProgramBrief
    code: str
    diff: str | None
    metrics: dict
    feedback: str
    error: str | None
    cell: list | None
    inspiration_ids: list
    parent_score: float | None
    propose_seconds: float | None
    eval_seconds: float | None
    prompt: str | None
    answer: str | None
    llm: dict | None  # model, tokens, cost, latency, outcome of the call that made it
    evaluations: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class IslandBest:
    island: int
    program_id: int | None
    score: float | None
    candidates: int
    ok: int


@dataclass(frozen=True)
class ReasonCount:
    reason: str  # the message with its numbers masked: "candidate rejected: negative radius for circle N"
    count: int
    example: str  # the most common message in the group, as written
    kind: str = ""  # the coarse kind: "timeout", "crash", "evaluator error", "candidate rejected"...


@dataclass(frozen=True)
class ModelStats:
    model: str
    calls: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    mean_latency: float
    children: int
    rejected: int
    duplicates: int
    improved: int
    applied_share: float  # children / calls: edits that applied and made a program
    improved_share: float  # improved / calls: edits whose program beat its parent's score


@dataclass(frozen=True)
class EventRow:
    id: int
    kind: str
    message: str
    created_at: str | None


@dataclass(frozen=True)
class RunSummary:
    run: RunRow
    problem_path: str
    seed: int
    sandbox: str
    mutator: str
    stop_reason: str | None
    iterations_target: int | None
    iterations_done: int
    status_counts: dict[str, int]
    best: ProgramBrief | None
    heldout_score: float | None
    has_heldout: bool
    islands: list[IslandBest]
    failures: list[ReasonCount]
    rejections: list[ReasonCount]
    models: list[ModelStats]
    tokens: int
    cost: float
    events: list[EventRow]


@dataclass(frozen=True)
class LineageStep:
    program: ProgramBrief
    delta: float | None  # score change against the step before (None where either is unscored)
    diff: str | None = None


@dataclass(frozen=True)
class DiffResult:
    a: ProgramBrief
    b: ProgramBrief
    text: str
    stored: bool  # the diff recorded when b was made from a (else computed here)
    language: str


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and containers to JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):  # NaN and infinities are not JSON
        return None
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


# ---------------------------------------------------------------- runs


def _run_rows(conn: Connection, url: str, run_id: int | None = None) -> list[RunRow]:
    only = (lambda col: [col == run_id]) if run_id is not None else (lambda col: [])
    per_status = (
        select(
            Program.run_id.label("run_id"),
            func.count(Program.id).label("candidates"),
            func.sum(case((Program.status == "ok", 1), else_=0)).label("ok"),
            func.sum(case((Program.status == "failed", 1), else_=0)).label("failed"),
            func.max(case((Program.status == "ok", Program.score), else_=None)).label("best"),
        )
        .where(*only(Program.run_id))
        .group_by(Program.run_id)
        .subquery()
    )
    costs = (
        select(LLMCall.run_id.label("run_id"), func.sum(LLMCall.cost).label("cost"))
        .where(*only(LLMCall.run_id))
        .group_by(LLMCall.run_id)
        .subquery()
    )
    stmt = (
        select(Run, per_status.c.candidates, per_status.c.ok, per_status.c.failed, per_status.c.best,
               costs.c.cost)
        .outerjoin(per_status, per_status.c.run_id == Run.id)
        .outerjoin(costs, costs.c.run_id == Run.id)
        .where(*only(Run.id))
        .order_by(Run.id)
    )
    rows = []
    for run, candidates, ok, failed, best, cost in Session(bind=conn).execute(stmt).all():
        end = run.finished_at or run.updated_at
        rows.append(RunRow(
            id=run.id, name=run.name, problem=run.problem, status=run.status,
            candidates=candidates or 0, ok=int(ok or 0), failed=int(failed or 0),
            best_score=best if best is not None else run.best_score,
            heldout_score=run.heldout_score, cost=float(cost or 0.0),
            created_at=_iso(run.created_at), updated_at=_iso(run.updated_at),
            duration_s=_seconds(run.created_at, end), url=url,
        ))
    return rows


def list_runs(engine: Engine, url: str = "") -> list[RunRow]:
    with engine.connect() as conn:
        return _run_rows(conn, url)


# ---------------------------------------------------------------- programs


def _brief_columns():
    return (Program.id, Program.parent_id, Program.island, Program.generation, Program.iteration,
            Program.mutation, Program.status, Program.score, Program.heldout_score, LLMCall.model,
            Program.created_at)


def _brief(row) -> ProgramBrief:
    return ProgramBrief(
        id=row[0], parent_id=row[1], island=row[2], generation=row[3], iteration=row[4],
        mutation=row[5], status=row[6], score=row[7], heldout_score=row[8], model=row[9],
        created_at=_iso(row[10]),
    )


def _briefs(conn: Connection, run_id: int, *where, order=None, limit: int | None = None,
            offset: int = 0) -> list[ProgramBrief]:
    stmt = (select(*_brief_columns()).outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
            .where(Program.run_id == run_id, *where))
    if order is not None:
        stmt = stmt.order_by(*order)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return [_brief(r) for r in conn.execute(stmt).all()]


def _best_id(conn: Connection, run_id: int) -> int | None:
    return conn.execute(
        select(Program.id)
        .where(Program.run_id == run_id, Program.status == "ok", Program.score.is_not(None))
        .order_by(Program.score.desc(), Program.id)
        .limit(1)
    ).scalar_one_or_none()


def best_id(engine: Engine, run_id: int) -> int | None:
    """The best program: the highest-scoring evaluated program (the earliest among equals)."""
    with engine.connect() as conn:
        return _best_id(conn, run_id)


def top(engine: Engine, run_id: int, n: int = 10) -> list[ProgramBrief]:
    with engine.connect() as conn:
        return _briefs(conn, run_id, Program.status == "ok", Program.score.is_not(None),
                       order=(Program.score.desc(), Program.id), limit=n)


SORTS = {
    "score": (Program.score.desc(), Program.id),
    "-score": (Program.score.asc(), Program.id),
    "iteration": (Program.iteration, Program.id),
    "-iteration": (Program.iteration.desc(), Program.id.desc()),
    "id": (Program.id,),
    "-id": (Program.id.desc(),),
}


def browse(engine: Engine, run_id: int, *, status: str | None = None, island: int | None = None,
           sort: str = "-id", limit: int = 50, offset: int = 0) -> tuple[int, list[ProgramBrief]]:
    """One page of programs for the program browser, and how many match in all."""
    where = []
    if status:
        where.append(Program.status == status)
    if island is not None:
        where.append(Program.island == island)
    order = SORTS.get(sort, SORTS["-id"])
    if sort in ("score", "-score"):
        where.append(Program.score.is_not(None))
    with engine.connect() as conn:
        total = conn.execute(
            select(func.count(Program.id)).where(Program.run_id == run_id, *where)).scalar_one()
        return total, _briefs(conn, run_id, *where, order=order, limit=limit, offset=offset)


def _detail(conn: Connection, run_id: int, program_id: int) -> ProgramDetail:
    parent = aliased(Program)
    row = Session(bind=conn).execute(
        select(Program, LLMCall, parent.score)
        .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
        .outerjoin(parent, parent.id == Program.parent_id)
        .where(Program.run_id == run_id, Program.id == program_id)
    ).first()
    if row is None:
        raise QueryError(f"no program {program_id} in this run")
    p, call, parent_score = row
    evals = conn.execute(
        select(Evaluation.kind, Evaluation.ok, Evaluation.score, Evaluation.exit_reason,
               Evaluation.duration, Evaluation.sandbox, func.substr(Evaluation.logs, 1, 4000),
               Evaluation.created_at)
        .where(Evaluation.program_id == program_id)
        .order_by(Evaluation.id)
    ).all()
    brief = ProgramBrief(p.id, p.parent_id, p.island, p.generation, p.iteration, p.mutation,
                         p.status, p.score, p.heldout_score, call.model if call else None,
                         _iso(p.created_at))
    llm = None
    if call is not None:
        llm = {"id": call.id, "model": call.model, "mutation": call.mutation,
               "prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
               "cost": call.cost, "latency": call.latency, "attempts": call.attempts,
               "outcome": call.outcome, "error": call.error}
    return ProgramDetail(
        brief=brief, code=p.code, diff=p.diff, metrics=p.metrics or {}, feedback=p.feedback or "",
        error=p.error, cell=p.cell, inspiration_ids=p.inspiration_ids or [],
        parent_score=parent_score, propose_seconds=p.propose_seconds, eval_seconds=p.eval_seconds,
        prompt=call.prompt if call else None, answer=call.answer if call else None, llm=llm,
        evaluations=[{"kind": e[0], "ok": e[1], "score": e[2], "exit_reason": e[3],
                      "duration": e[4], "sandbox": e[5], "logs": e[6], "created_at": _iso(e[7])}
                     for e in evals],
    )


def program(engine: Engine, run_id: int, program_id: int) -> ProgramDetail:
    with engine.connect() as conn:
        return _detail(conn, run_id, program_id)


def best(engine: Engine, run_id: int) -> ProgramDetail:
    with engine.connect() as conn:
        pid = _best_id(conn, run_id)
        if pid is None:
            raise QueryError("no program has been scored yet in this run")
        return _detail(conn, run_id, pid)


# ---------------------------------------------------------------- summary


def failure_kind(error: str | None) -> str:
    """The kind of a failure: 'timeout', 'crash', 'evaluator error'... (the text before ':')."""
    if not error or not error.strip():
        return "unknown"
    first = error.strip().splitlines()[0]
    head, sep, _ = first.partition(":")
    if sep and 0 < len(head) <= 40:
        return head.strip()
    return _mask(first)[:60]


_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _mask(text: str) -> str:
    return _NUMBER.sub("N", text)


def failure_reason(error: str | None) -> str:
    """A failure's reason for grouping: its first line, numbers masked, up to the first ';'.

    "candidate rejected: 107 constraint violations; worst: ..." -> "candidate rejected: N constraint
    violations"; "timeout: evaluation ran past 60 s" -> "timeout: evaluation ran past N s".
    """
    if not error or not error.strip():
        return "unknown"
    first = _mask(error.strip().splitlines()[0]).split(";")[0].strip()
    return first if len(first) <= 100 else first[:99] + "…"


MAX_REASONS = 20


def _group_reasons(texts: list[str | None], prefix: dict | None = None) -> list[ReasonCount]:
    groups: dict[tuple[str, str], Counter] = {}
    for text in texts:
        first = (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""
        groups.setdefault((failure_kind(text), failure_reason(text)), Counter())[first] += 1
    out = [ReasonCount(reason, sum(c.values()), c.most_common(1)[0][0], kind)
           for (kind, reason), c in groups.items()]
    out.sort(key=lambda r: (-r.count, r.reason))
    if len(out) > MAX_REASONS:  # a long tail of one-off messages: one "other" row keeps the total
        rest = out[MAX_REASONS - 1:]
        out = out[:MAX_REASONS - 1] + [ReasonCount(f"other ({len(rest)} reasons)", sum(r.count for r in rest),
                                                   rest[0].example, "other")]
    return out


def _failures(conn: Connection, run_id: int) -> list[ReasonCount]:
    texts = conn.execute(
        select(func.substr(Program.error, 1, 300))
        .where(Program.run_id == run_id, Program.status == "failed")
    ).scalars().all()
    return _group_reasons(list(texts))


def _rejections(conn: Connection, run_id: int) -> list[ReasonCount]:
    text = func.substr(func.coalesce(LLMCall.reject_reason, LLMCall.error), 1, 300)
    rows = conn.execute(
        select(LLMCall.outcome, text, func.count(LLMCall.id))
        .where(LLMCall.run_id == run_id, LLMCall.outcome != "child")
        .group_by(LLMCall.outcome, text)
    ).all()
    groups: dict[str, Counter] = {}
    for outcome, message, count in rows:
        key = f"{outcome}: {failure_reason(message)}" if message else outcome
        groups.setdefault(key, Counter())[(message or "").strip()[:300]] += count
    out = [ReasonCount(k, sum(c.values()), c.most_common(1)[0][0], k.split(":")[0]) for k, c in groups.items()]
    return sorted(out, key=lambda r: (-r.count, r.reason))


def _models(conn: Connection, run_id: int) -> list[ModelStats]:
    child, parent = aliased(Program), aliased(Program)
    improved = dict(conn.execute(
        select(LLMCall.model, func.count(child.id))
        .select_from(child)
        .join(LLMCall, LLMCall.id == child.llm_call_id)
        .join(parent, parent.id == child.parent_id)
        .where(child.run_id == run_id, child.status == "ok", child.score.is_not(None),
               parent.score.is_not(None), child.score > parent.score)
        .group_by(LLMCall.model)
    ).all())
    rows = conn.execute(
        select(
            LLMCall.model,
            func.count(LLMCall.id),
            func.sum(case((LLMCall.outcome == "error", 1), (LLMCall.error.is_not(None), 1), else_=0)),
            func.sum(LLMCall.prompt_tokens),
            func.sum(LLMCall.completion_tokens),
            func.sum(LLMCall.cost),
            func.avg(LLMCall.latency),
            func.sum(case((LLMCall.outcome == "child", 1), else_=0)),
            func.sum(case((LLMCall.outcome == "rejected", 1), else_=0)),
            func.sum(case((LLMCall.outcome == "duplicate", 1), else_=0)),
        )
        .where(LLMCall.run_id == run_id)
        .group_by(LLMCall.model)
        .order_by(LLMCall.model)
    ).all()
    out = []
    for model, calls, errors, ptok, ctok, cost, latency, children, rejected, dups in rows:
        better = int(improved.get(model, 0))
        out.append(ModelStats(
            model=model, calls=calls, errors=int(errors or 0), prompt_tokens=int(ptok or 0),
            completion_tokens=int(ctok or 0), cost=float(cost or 0.0), mean_latency=float(latency or 0.0),
            children=int(children or 0), rejected=int(rejected or 0), duplicates=int(dups or 0),
            improved=better, applied_share=(children or 0) / calls if calls else 0.0,
            improved_share=better / calls if calls else 0.0,
        ))
    return out


def _islands(conn: Connection, run_id: int) -> list[IslandBest]:
    stats = conn.execute(
        select(Program.island, func.count(Program.id),
               func.sum(case((Program.status == "ok", 1), else_=0)),
               func.max(case((Program.status == "ok", Program.score), else_=None)))
        .where(Program.run_id == run_id)
        .group_by(Program.island)
        .order_by(Program.island)
    ).all()
    best_by_island = (
        select(Program.island.label("island"), func.max(Program.score).label("score"))
        .where(Program.run_id == run_id, Program.status == "ok", Program.score.is_not(None))
        .group_by(Program.island)
        .subquery()
    )
    ids = dict(conn.execute(
        select(Program.island, func.min(Program.id))
        .join(best_by_island, and_(best_by_island.c.island == Program.island,
                                   best_by_island.c.score == Program.score))
        .where(Program.run_id == run_id, Program.status == "ok")
        .group_by(Program.island)
    ).all())
    return [IslandBest(island, ids.get(island), score, count, int(ok or 0))
            for island, count, ok, score in stats]


def _events(conn: Connection, run_id: int, limit: int = 20) -> list[EventRow]:
    rows = conn.execute(
        select(Event.id, Event.kind, Event.message, Event.created_at)
        .where(Event.run_id == run_id).order_by(Event.id.desc()).limit(limit)
    ).all()
    return [EventRow(r[0], r[1], r[2], _iso(r[3])) for r in rows]


def _run(conn: Connection, run_id: int) -> Run:
    run = Session(bind=conn).execute(select(Run).where(Run.id == run_id)).scalar_one_or_none()
    if run is None:
        raise QueryError(f"no run with id {run_id}")
    return run


def summary(engine: Engine, run_id: int, url: str = "") -> RunSummary:
    with engine.connect() as conn:
        return _summary(conn, run_id, url)


def _summary(conn: Connection, run_id: int, url: str = "") -> RunSummary:
    run = _run(conn, run_id)
    row = _run_rows(conn, url, run_id)[0]
    counts = dict(conn.execute(
        select(Program.status, func.count(Program.id))
        .where(Program.run_id == run_id).group_by(Program.status)
    ).all())
    # An iteration is done when its proposal ended without a child, or its child was evaluated.
    no_child = conn.execute(select(func.count(LLMCall.id))
                            .where(LLMCall.run_id == run_id, LLMCall.outcome != "child")).scalar()
    evaluated = conn.execute(select(func.count(Program.id)).where(
        Program.run_id == run_id, Program.iteration > 0, Program.status.in_(("ok", "failed")))).scalar()
    done = (no_child or 0) + (evaluated or 0)
    pid = _best_id(conn, run_id)
    best_brief = _briefs(conn, run_id, Program.id == pid)[0] if pid is not None else None
    tokens, cost = conn.execute(
        select(func.sum(LLMCall.prompt_tokens + LLMCall.completion_tokens), func.sum(LLMCall.cost))
        .where(LLMCall.run_id == run_id)
    ).one()
    heldout = run.heldout_score
    if heldout is None and best_brief is not None:
        heldout = best_brief.heldout_score
    return RunSummary(
        run=row, problem_path=run.problem_path, seed=run.seed, sandbox=run.sandbox,
        mutator=run.mutator, stop_reason=run.stop_reason, iterations_target=run.iterations_target,
        iterations_done=int(done or 0), status_counts=counts, best=best_brief, heldout_score=heldout,
        has_heldout=bool(((run.config or {}).get("problem") or {}).get("evaluation", {}).get("heldout_function")),
        islands=_islands(conn, run_id), failures=_failures(conn, run_id),
        rejections=_rejections(conn, run_id), models=_models(conn, run_id),
        tokens=int(tokens or 0), cost=float(cost or 0.0), events=_events(conn, run_id),
    )


def run_config(engine: Engine, run_id: int) -> dict:
    with engine.connect() as conn:
        return dict(_run(conn, run_id).config or {})


def language(config: dict) -> str:
    """The evolving program's language (for syntax colour), from the run's problem config."""
    problem = config.get("problem") or {}
    if problem.get("language"):
        return str(problem["language"])
    program_file = str(problem.get("program") or "")
    suffix = program_file.rsplit(".", 1)[-1] if "." in program_file else "py"
    return {"py": "python", "c": "c", "h": "c", "cc": "cpp", "cpp": "cpp", "rs": "rust",
            "go": "go", "js": "javascript", "ts": "typescript", "java": "java",
            "jl": "julia"}.get(suffix, "python")


# ---------------------------------------------------------------- lineage and diff


def _lineage(conn: Connection, run_id: int, program_id: int, with_diffs: bool) -> list[LineageStep]:
    anc = (select(Program.id.label("id"), Program.parent_id.label("parent_id"), literal(0, Integer).label("depth"))
           .where(Program.run_id == run_id, Program.id == program_id)
           .cte("ancestry", recursive=True))
    up = aliased(Program)
    anc = anc.union_all(
        select(up.id, up.parent_id, (anc.c.depth + 1).label("depth"))
        .where(up.id == anc.c.parent_id, anc.c.depth < 100000)
    )
    cols = list(_brief_columns()) + ([Program.diff] if with_diffs else [])
    rows = conn.execute(
        select(*cols)
        .join(anc, anc.c.id == Program.id)
        .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
        .order_by(anc.c.depth.desc())
    ).all()
    if not rows:
        raise QueryError(f"no program {program_id} in this run")
    steps, before = [], None
    for r in rows:
        brief = _brief(r)
        delta = None
        if before is not None and before.score is not None and brief.score is not None:
            delta = brief.score - before.score
        steps.append(LineageStep(brief, delta, r[11] if with_diffs else None))
        before = brief
    return steps


def lineage(engine: Engine, run_id: int, program_id: int | None = None,
            with_diffs: bool = False) -> list[LineageStep]:
    """The ancestry of a program (default: the best), from the initial program down to it."""
    with engine.connect() as conn:
        if program_id is None:
            program_id = _best_id(conn, run_id)
            if program_id is None:
                raise QueryError("no program has been scored yet in this run")
        return _lineage(conn, run_id, program_id, with_diffs)


def diff(engine: Engine, run_id: int, a: int | None = None, b: int | None = None) -> DiffResult:
    """The diff from program a to program b. With neither: the best against its parent; with only
    one: that program against its parent."""
    with engine.connect() as conn:
        lang = language(dict(_run(conn, run_id).config or {}))
        if a is not None and b is None:
            a, b = None, a
        if b is None:
            b = _best_id(conn, run_id)
            if b is None:
                raise QueryError("no program has been scored yet in this run")
        rows = {}
        for pid in (b, a):
            if pid is None:
                continue
            r = conn.execute(
                select(*_brief_columns(), Program.code, Program.diff)
                .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
                .where(Program.run_id == run_id, Program.id == pid)
            ).first()
            if r is None:
                raise QueryError(f"no program {pid} in this run")
            rows[pid] = r
            if a is None:
                a = r[1]
                if a is None:
                    raise QueryError(f"program {pid} is the initial program: it has no parent to diff "
                                     "against (give two program ids)")
        if a not in rows:
            r = conn.execute(
                select(*_brief_columns(), Program.code, Program.diff)
                .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
                .where(Program.run_id == run_id, Program.id == a)
            ).first()
            if r is None:
                raise QueryError(f"no program {a} in this run")
            rows[a] = r
    ra, rb = rows[a], rows[b]
    if rb[1] == a and rb[12]:
        return DiffResult(_brief(ra), _brief(rb), rb[12], True, lang)
    text = "".join(difflib.unified_diff(
        ra[11].splitlines(keepends=True), rb[11].splitlines(keepends=True),
        fromfile=f"program {a}", tofile=f"program {b}"))
    return DiffResult(_brief(ra), _brief(rb), text, False, lang)


# ---------------------------------------------------------------- export


def export_rows(engine: Engine, run_id: int, include_code: bool = True) -> Iterator[dict]:
    """Every candidate with the prompt and answer that made it, its diff and metrics (streamed)."""
    parent = aliased(Program)
    cols = [Program.id, Program.parent_id, Program.inspiration_ids, Program.island, Program.generation,
            Program.iteration, Program.mutation, Program.status, Program.score, Program.heldout_score,
            Program.metrics, Program.feedback, Program.error, Program.cell, Program.diff,
            Program.created_at, parent.score,
            LLMCall.model, LLMCall.prompt, LLMCall.answer, LLMCall.prompt_tokens,
            LLMCall.completion_tokens, LLMCall.cost, LLMCall.latency, LLMCall.outcome]
    if include_code:
        cols.append(Program.code)
    stmt = (select(*cols)
            .outerjoin(LLMCall, LLMCall.id == Program.llm_call_id)
            .outerjoin(parent, parent.id == Program.parent_id)
            .where(Program.run_id == run_id)
            .order_by(Program.id))
    with engine.connect() as conn:
        name = conn.execute(select(Run.name).where(Run.id == run_id)).scalar_one()
        result = conn.execution_options(stream_results=True, yield_per=500).execute(stmt)
        for r in result:
            score, parent_score = r[8], r[16]
            row = {
                "run": name, "id": r[0], "parent_id": r[1], "inspiration_ids": r[2] or [],
                "island": r[3], "generation": r[4], "iteration": r[5], "mutation": r[6],
                "status": r[7], "score": score, "heldout_score": r[9], "metrics": r[10] or {},
                "feedback": r[11] or "", "error": r[12], "cell": r[13], "diff": r[14],
                "created_at": _iso(r[15]), "parent_score": parent_score,
                "improved": (r[7] == "ok" and score is not None and parent_score is not None
                             and score > parent_score),
                "model": r[17], "prompt": r[18], "answer": r[19], "prompt_tokens": r[20],
                "completion_tokens": r[21], "cost": r[22], "latency": r[23], "outcome": r[24],
            }
            if include_code:
                row["code"] = r[25]
            yield row
