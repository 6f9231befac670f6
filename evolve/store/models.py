"""The run database: one row per run, program, evaluation, model call and event.

SQLAlchemy 2.0 declarative models; JSON columns hold metrics and configs so that a problem's own
metrics need no schema change. Statuses and kinds are stored as the plain values of the enums in
`evolve.kinds`. A column added after the first release is nullable and listed in
`evolve.store.db.ADDED_COLUMNS`, so older databases are brought up to date when opened. Everything a run learns is here, so a run can be replayed,
resumed and inspected from this file alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from evolve.kinds import CallOutcome, EvaluationKind, ProgramStatus, RunStatus


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    problem: Mapped[str] = mapped_column(String(200))
    problem_path: Mapped[str] = mapped_column(Text)
    config: Mapped[dict] = mapped_column(JSON)  # problem config + run options, as resolved
    seed: Mapped[int] = mapped_column(Integer)
    sandbox: Mapped[str] = mapped_column(String(32))
    mutator: Mapped[str] = mapped_column(String(200))  # "llm: model-a, model-b" or "offline"
    status: Mapped[str] = mapped_column(String(32), default=RunStatus.RUNNING)  # a RunStatus
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    iterations_target: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_program_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    heldout_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The driver's pulse while it runs: a `running` run whose pulse stopped was killed.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Program(Base):
    __tablename__ = "programs"
    __table_args__ = (
        Index("ix_programs_run_hash", "run_id", "code_hash"),
        Index("ix_programs_run_score", "run_id", "score"),
        Index("ix_programs_run_iteration", "run_id", "iteration"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    code: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    # A crossover's other parent (NULL for every other child, and in older databases).
    second_parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    inspiration_ids: Mapped[list] = mapped_column(JSON, default=list)
    island: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer)
    iteration: Mapped[int] = mapped_column(Integer)  # 0 for the initial program
    mutation: Mapped[str] = mapped_column(String(32))  # a Mutation
    diff: Mapped[str | None] = mapped_column(Text, nullable=True)  # unified diff against the parent
    status: Mapped[str] = mapped_column(String(32), default=ProgramStatus.PENDING)  # a ProgramStatus
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    feedback: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a FailureKind; None when ok
    cell: Mapped[list | None] = mapped_column(JSON, nullable=True)  # MAP-Elites cell coordinates
    heldout_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    llm_call_id: Mapped[int | None] = mapped_column(ForeignKey("llm_calls.id"), nullable=True)
    propose_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    eval_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # What the model said it would do: the prose before its edit (NULL: offline, or older databases).
    idea: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The hints (their event ids) its prompt showed (NULL: none, or older databases; evolve/store/hints.py).
    hint_ids: Mapped[list | None] = mapped_column(JSON(none_as_null=True), nullable=True)


class LLMCall(Base):
    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_run", "run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    iteration: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200))
    mutation: Mapped[str] = mapped_column(String(32))  # a Mutation
    prompt: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # the call failed (after retries)
    outcome: Mapped[str] = mapped_column(String(32), default=CallOutcome.CHILD)  # a CallOutcome
    reject_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_form: Mapped[str | None] = mapped_column(String(32), nullable=True)  # an AnswerForm; None: no answer
    # The iteration's conversation: attempt 1 is the first answer; a rejected answer sent back to
    # the model is `retried` (its outcome is rejected) and the next attempt is the next row. The
    # iteration's outcome is its row that was not retried. NULL in older databases: 1, not retried.
    attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retried: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    island: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_program", "program_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    kind: Mapped[str] = mapped_column(String(16), default=EvaluationKind.TRAIN)  # an EvaluationKind
    sandbox: Mapped[str] = mapped_column(String(32))
    ok: Mapped[bool] = mapped_column(default=False)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_reason: Mapped[str] = mapped_column(Text)
    failure_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a FailureKind; None when ok
    duration: Mapped[float] = mapped_column(Float)
    logs: Mapped[str] = mapped_column(Text, default="")
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the Ray node that ran it
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    kind: Mapped[str] = mapped_column(String(32))  # an EventKind
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Embedding(Base):
    """A program's code embedding (novelty rejection with `[novelty] embedding_model`), kept so a
    resumed run does not pay for it again."""

    __tablename__ = "embeddings"
    __table_args__ = (Index("ix_embeddings_run", "run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    model: Mapped[str] = mapped_column(String(200))
    vector: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Insight(Base):
    """The run's scratchpad, written by one model call every `[prompt] insight_interval`
    evaluations from the run so far; the latest is shown in later prompts."""

    __tablename__ = "insights"
    __table_args__ = (Index("ix_insights_run", "run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    iteration: Mapped[int] = mapped_column(Integer)  # evaluations done when it was asked for
    text: Mapped[str] = mapped_column(Text, default="")  # findings and recommendations; "" when the call failed
    program_ids: Mapped[list] = mapped_column(JSON, default=list)  # the programs it was shown
    model: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text, default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # the call failed (after its retries)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
