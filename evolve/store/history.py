"""What prompts remember of a run, read from its rows: the lineage steps behind a program, the
attempts of each island that did not help, the latest insight, and what an insight call reads.

`RunHistory` lives in the population actor, beside the store's only writer. It keeps what the
hot path needs cheap: lineage steps in an LRU cache (a step never changes once its program is
evaluated, and ancestors of a parent always are), the last attempts of each island in memory
(noted as they happen, and read back from the rows when a run resumes), the latest insight.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased

from evolve.edit import stated_idea
from evolve.edit.blocks import block_bodies
from evolve.kinds import CallOutcome, EvaluationKind, ProgramStatus
from evolve.mutate.insight import IdeaRecord, Insight, InsightContext
from evolve.mutate.memory import InsightNote, LineageStep, TriedEdit, compact_diff, evaluated, pick_tried, rejected
from evolve.sandbox.base import EvalOutcome
from evolve.store.models import Evaluation, LLMCall, Program
from evolve.store.models import Insight as InsightRow

STEP_CACHE = 1024
TRIED_KEPT = 20  # attempts kept per island: `[prompt] tried` is at most 20
INSIGHT_BEST = 5  # what an insight call reads: the run's best few, the latest improvements and attempts
INSIGHT_IMPROVED = 8
INSIGHT_TRIED = 10
INSIGHT_DIFF_LINES = 12
_REJECTED = (CallOutcome.REJECTED, CallOutcome.DUPLICATE)


@dataclass(frozen=True)
class _Child:
    """A child waiting for its evaluation: what its tried entry needs once it is scored."""

    parent_id: int
    parent_score: float | None
    idea: str
    mutation: str
    diff: str  # against the parent: its lineage step, once it evaluates ok


class RunHistory:
    def __init__(self, engine: Engine, run_id: int):
        self.engine, self.run_id = engine, run_id
        self.steps: OrderedDict[int, LineageStep | None] = OrderedDict()  # None: no parent (the initial program)
        self.attempts: defaultdict[int, deque[TriedEdit]] = defaultdict(lambda: deque(maxlen=TRIED_KEPT))
        self.children: dict[int, _Child] = {}
        self.latest_insight: InsightNote | None = None
        self.insight_cost = 0.0  # all insight calls' cost, which is the run's too

    # ---- a resumed run ---------------------------------------------------------------------

    def load(self, islands: int) -> None:
        """Read back the islands' last attempts and the latest insight (a new run has none)."""
        limit = TRIED_KEPT * max(1, islands)
        with self.engine.connect() as conn:
            found = [*_rejections(conn, self.run_id, limit), *_evaluated(conn, self.run_id, limit)]
            for entry in sorted(found, key=lambda e: e.iteration):
                self.attempts[entry.island].append(entry)
            latest = conn.execute(
                select(InsightRow.iteration, InsightRow.text)
                .where(InsightRow.run_id == self.run_id, InsightRow.error.is_(None))
                .order_by(InsightRow.id.desc())
                .limit(1)
            ).first()
            cost = conn.execute(select(func.sum(InsightRow.cost)).where(InsightRow.run_id == self.run_id)).scalar()
        self.latest_insight = InsightNote(latest.iteration, latest.text) if latest is not None else None
        self.insight_cost = float(cost or 0.0)

    # ---- the hot path ----------------------------------------------------------------------

    def lineage(self, program_id: int, count: int) -> tuple[LineageStep, ...]:
        """The last `count` steps that made `program_id`, oldest first (the initial program has none)."""
        steps: list[LineageStep] = []
        current: int | None = program_id
        while current is not None and len(steps) < count:
            step = self._step(current)
            if step is None:
                break
            steps.append(step)
            current = step.parent_id
        return tuple(reversed(steps))

    def tried(self, island: int, parent_id: int, count: int) -> tuple[TriedEdit, ...]:
        return pick_tried(list(self.attempts.get(island, ())), parent_id, count)

    def _step(self, program_id: int) -> LineageStep | None:
        if program_id in self.steps:
            self.steps.move_to_end(program_id)
            return self.steps[program_id]
        with self.engine.connect() as conn:
            step = _read_step(conn, program_id)
        self._keep_step(program_id, step)
        return step

    def _keep_step(self, program_id: int, step: LineageStep | None) -> None:
        self.steps[program_id] = step
        self.steps.move_to_end(program_id)
        while len(self.steps) > STEP_CACHE:
            self.steps.popitem(last=False)

    # ---- noting what happens ---------------------------------------------------------------

    def note_rejected(self, iteration: int, island: int, parent_id: int, mutation: str, answer: str, reason: str):
        self.attempts[island].append(rejected(iteration, island, parent_id, mutation, stated_idea(answer), reason))

    def note_child(
        self, program_id: int, parent_id: int, parent_score: float | None, idea: str, mutation: str, diff: str = ""
    ) -> None:
        self.children[program_id] = _Child(parent_id, parent_score, idea, mutation, diff)

    def note_evaluated(self, program_id: int, iteration: int, island: int, outcome: EvalOutcome) -> None:
        child = self.children.pop(program_id, None)
        if child is None:  # the initial program, or a child from before a resume
            return
        if outcome.ok:  # it may become a parent: its step is known here, no need to read it back
            step = LineageStep(
                program_id,
                child.parent_id,
                iteration,
                child.mutation,
                child.idea,
                compact_diff(child.diff),
                outcome.score,
                child.parent_score,
            )
            self._keep_step(program_id, step)
        entry = evaluated(
            program_id=program_id,
            iteration=iteration,
            island=island,
            parent_id=child.parent_id,
            mutation=child.mutation,
            idea=child.idea,
            parent_score=child.parent_score,
            ok=outcome.ok,
            score=outcome.score,
            reason=outcome.reason,
            feedback=outcome.feedback,
            logs=outcome.logs,
        )
        if entry is not None:
            self.attempts[island].append(entry)

    def note_insight(self, insight: Insight) -> None:
        self.insight_cost += insight.usage.cost
        if insight.error is None and insight.text:
            self.latest_insight = InsightNote(insight.iteration, insight.text)

    # ---- what an insight call reads --------------------------------------------------------

    def insight_context(self, *, seed: int, evaluated: int, failed: int, rejected: int) -> InsightContext:
        recent = sorted((e for q in self.attempts.values() for e in q), key=lambda e: e.iteration)
        with self.engine.connect() as conn:
            best = _ideas(conn, self.run_id, improved_only=False, limit=INSIGHT_BEST)
            improved = _ideas(conn, self.run_id, improved_only=True, limit=INSIGHT_IMPROVED)
            code = conn.execute(select(Program.code).where(Program.id == best[0].program_id)).scalar() if best else ""
        return InsightContext(
            iteration=evaluated,
            seed=seed,
            evaluated=evaluated,
            failed=failed,
            rejected=rejected,
            best=tuple(best),
            best_code="".join(block_bodies(code or "")),
            improved=tuple(reversed(improved)),
            tried=tuple(recent[-INSIGHT_TRIED:]),
            previous=self.latest_insight,
        )


def _read_step(conn: Connection, program_id: int) -> LineageStep | None:
    child, parent = aliased(Program), aliased(Program)
    row = conn.execute(
        select(
            child.id,
            child.parent_id,
            child.iteration,
            child.mutation,
            child.idea,
            child.diff,
            child.score,
            parent.score.label("parent_score"),
        )
        .outerjoin(parent, parent.id == child.parent_id)
        .where(child.id == program_id)
    ).first()
    if row is None or row.parent_id is None:
        return None
    return LineageStep(
        row.id,
        row.parent_id,
        row.iteration,
        row.mutation,
        row.idea or "",
        compact_diff(row.diff),
        row.score,
        row.parent_score,
    )


def _rejections(conn: Connection, run_id: int, limit: int) -> list[TriedEdit]:
    """The last answers that made no child (the iteration's last answer, not those sent back)."""
    rows = conn.execute(
        select(
            LLMCall.iteration,
            LLMCall.island,
            LLMCall.parent_id,
            LLMCall.mutation,
            LLMCall.answer,
            LLMCall.reject_reason,
        )
        .where(
            LLMCall.run_id == run_id,
            LLMCall.outcome.in_(_REJECTED),
            LLMCall.retried.is_not(True),
            LLMCall.parent_id.is_not(None),
        )
        .order_by(LLMCall.id.desc())
        .limit(limit)
    ).all()
    return [
        rejected(r.iteration, r.island, r.parent_id, r.mutation, stated_idea(r.answer or ""), r.reject_reason or "")
        for r in rows
    ]


def _evaluated(conn: Connection, run_id: int, limit: int) -> list[TriedEdit]:
    """The last children that failed their evaluation or scored no better than their parent."""
    child, parent = aliased(Program), aliased(Program)
    rows = conn.execute(
        select(
            child.id,
            child.iteration,
            child.island,
            child.parent_id,
            child.mutation,
            child.idea,
            child.status,
            child.score,
            child.error,
            child.feedback,
            parent.score.label("parent_score"),
        )
        .join(parent, parent.id == child.parent_id)
        .where(
            child.run_id == run_id,
            (child.status == ProgramStatus.FAILED)
            | ((child.status == ProgramStatus.OK) & (child.score <= parent.score)),
        )
        .order_by(child.id.desc())
        .limit(limit)
    ).all()
    failed = [r.id for r in rows if r.status == ProgramStatus.FAILED]
    logs = dict(
        conn.execute(
            select(Evaluation.program_id, Evaluation.logs).where(
                Evaluation.program_id.in_(failed), Evaluation.kind == EvaluationKind.TRAIN
            )
        ).all()
    )
    out = []
    for r in rows:
        entry = evaluated(
            program_id=r.id,
            iteration=r.iteration,
            island=r.island,
            parent_id=r.parent_id,
            mutation=r.mutation,
            idea=r.idea or "",
            parent_score=r.parent_score,
            ok=r.status == ProgramStatus.OK,
            score=r.score,
            reason=r.error or "",
            feedback=r.feedback or "",
            logs=logs.get(r.id) or "",
        )
        if entry is not None:
            out.append(entry)
    return out


def _ideas(conn: Connection, run_id: int, *, improved_only: bool, limit: int) -> list[IdeaRecord]:
    """The run's best programs (best first), or its latest children that beat their parent
    (newest first), with their ideas."""
    child, parent = aliased(Program), aliased(Program)
    query = (
        select(
            child.id,
            child.iteration,
            child.score,
            child.idea,
            child.diff,
            parent.score.label("parent_score"),
        )
        .outerjoin(parent, parent.id == child.parent_id)
        .where(child.run_id == run_id, child.status == ProgramStatus.OK, child.score.is_not(None))
    )
    if improved_only:
        query = query.where(child.score > parent.score).order_by(child.id.desc())
    else:
        query = query.order_by(child.score.desc(), child.id)
    rows = conn.execute(query.limit(limit)).all()
    return [
        IdeaRecord(
            r.id,
            r.iteration,
            r.score,
            r.score - r.parent_score if r.score is not None and r.parent_score is not None else None,
            r.idea or "",
            compact_diff(r.diff, INSIGHT_DIFF_LINES) if improved_only else "",
        )
        for r in rows
    ]
