"""The values the inspection queries return: frozen dataclasses, JSON-ready through `to_jsonable`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from typing import Any


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
class CallBrief:
    """The model call that made a program."""

    id: int
    model: str
    mutation: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency: float
    attempts: int
    outcome: str
    error: str | None


@dataclass(frozen=True)
class EvaluationRow:
    kind: str  # an EvaluationKind
    ok: bool
    score: float | None
    exit_reason: str
    duration: float
    sandbox: str
    logs: str  # the first 4,000 characters
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
    llm: CallBrief | None
    evaluations: list[EvaluationRow] = field(default_factory=list)


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
    # Per iteration (a rejected answer may be sent back: an iteration can take several calls).
    iterations: int = 0
    retried: int = 0  # answers rejected and sent back to the model
    first_try_share: float = 0.0  # iterations whose first answer made a child
    after_retry_share: float = 0.0  # iterations that made a child, first answer or after a retry
    answer_forms: dict[str, int] = field(default_factory=dict)  # calls by the form their answer was read in
    form_children: dict[str, int] = field(default_factory=dict)  # children by that form (salvage rules included)


@dataclass(frozen=True)
class ArmRow:
    """One arm of the search's bandits (evolve/search/bandit.py): where the calls went, what they earned."""

    bandit: str  # "model" or "kind"
    arm: str
    pulls: int  # finished iterations that used it
    improved: int  # of them, children that beat their baseline
    mean_reward: float  # 0..1: 0 for no gain, 0.5..1 for an improvement (the largest earns 1)
    cost: float  # USD
    weight: float  # its configured weight (the bandit's prior)


@dataclass(frozen=True)
class EventRow:
    id: int
    kind: str
    message: str
    created_at: str | None


@dataclass(frozen=True)
class InsightRow:
    """One of the run's scratchpads (`insights`), as `evolve show` and the report list them."""

    id: int
    iteration: int  # evaluations done when it was written
    text: str
    program_ids: list
    model: str
    tokens: int
    cost: float
    error: str | None
    created_at: str | None


@dataclass(frozen=True)
class HintRow:
    """A person's hint (evolve/store/hints.py) and what came of it: the children made under it."""

    id: int
    text: str
    iteration: int  # the iteration it arrived at
    island: int | None  # None: every island
    until: int | None  # the last iteration it shows in (None: until withdrawn)
    cleared_at: int | None  # withdrawn at this iteration
    children: int  # programs whose prompt showed it
    improved: int  # of those, the ones that scored above their parent
    best_score: float | None  # the best of those children


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
    arms: list[ArmRow] = field(default_factory=list)  # the search's bandits (empty: offline mutator)
    resets: int = 0  # island resets (evolve/search/resets.py)
    insights: list[InsightRow] = field(default_factory=list)  # newest first
    hints: list[HintRow] = field(default_factory=list)  # oldest first


@dataclass(frozen=True)
class LineageStep:
    program: ProgramBrief
    delta: float | None  # score change against the step before (None where either is unscored)
    diff: str | None = None
    second_parent_id: int | None = None  # a crossover's other parent
    hint_ids: tuple[int, ...] = ()  # the hints its prompt showed


@dataclass(frozen=True)
class DiffResult:
    a: ProgramBrief
    b: ProgramBrief
    text: str
    stored: bool  # the diff recorded when b was made from a (else computed here)
    language: str
    second_parent_id: int | None = None  # b is a crossover: its other parent


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


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())
