"""The run's scratchpad: every `[prompt] insight_interval` evaluations, one model call reads the run
so far (the best programs and their ideas, what improved, what was tried and did not help, its
own previous notes) and writes short findings and recommendations, which later prompts show.

`write_insight` runs in the mutator pool, off the hot path; it never raises (a failed call is an
`Insight` with its error), so a broken scratchpad never stops a run.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace

from evolve.edit import strip_reasoning
from evolve.mutate.budget import fit
from evolve.mutate.llm import ModelSpec, complete, count_tokens
from evolve.mutate.memory import InsightNote, TriedEdit, bounded
from evolve.mutate.prompt import render
from evolve.mutate.propose import MutatorSettings
from evolve.usage import CallUsage

log = logging.getLogger(__name__)

INSIGHT_CHARS = 2000  # a scratchpad, shown in every later prompt: short


@dataclass(frozen=True)
class IdeaRecord:
    """A program and the idea that made it."""

    program_id: int
    iteration: int
    score: float | None
    delta: float | None  # against its parent; None for the initial program
    idea: str
    diff: str = ""  # compact (improvements only)


@dataclass(frozen=True)
class InsightContext:
    """What the insight call reads: plain values from the population actor."""

    iteration: int  # evaluations done
    seed: int
    evaluated: int
    failed: int
    rejected: int
    best: tuple[IdeaRecord, ...] = ()  # the run's best programs, best first
    best_code: str = ""  # the best program's EVOLVE-BLOCK bodies
    improved: tuple[IdeaRecord, ...] = ()  # recent children that beat their parent, oldest first
    tried: tuple[TriedEdit, ...] = ()  # recent attempts that did not help, oldest first
    previous: InsightNote | None = None

    @property
    def program_ids(self) -> tuple[int, ...]:
        """The programs it shows, each once, in the order shown."""
        ids = [r.program_id for r in (*self.best, *self.improved)]
        ids += [t.program_id if t.program_id is not None else t.parent_id for t in self.tried]
        return tuple(dict.fromkeys(ids))


@dataclass(frozen=True)
class Insight:
    """One scratchpad as written (text "" and `error` set when the call failed)."""

    iteration: int
    text: str
    program_ids: tuple[int, ...]
    model: str
    prompt: str = ""
    usage: CallUsage = field(default_factory=CallUsage)
    error: str | None = None  # the call failed, its answer held no notes, or the prompt could not be made


def shrink_context(context: InsightContext) -> InsightContext | None:
    """`context` less one item: the oldest attempt, the oldest improvement, the lowest of the best
    (one is kept), the previous notes, the best program's code; None when nothing is left."""
    if context.tried:
        return replace(context, tried=context.tried[1:])
    if context.improved:
        return replace(context, improved=context.improved[1:])
    if len(context.best) > 1:
        return replace(context, best=context.best[:-1])
    if context.previous is not None:
        return replace(context, previous=None)
    if context.best_code:
        return replace(context, best_code="")
    return None


def insight_messages(context: InsightContext, settings: MutatorSettings) -> list[dict]:
    problem = settings.problem
    fields = dict(
        iteration=context.iteration,
        evaluated=context.evaluated,
        failed=context.failed,
        rejected=context.rejected,
        best=context.best,
        best_code=context.best_code,
        improved=context.improved,
        tried=context.tried,
        previous=context.previous,
    )
    return [
        {"role": "system", "content": render("system.j2", problem)},
        {"role": "user", "content": render("insight.j2", problem, **fields)},
    ]


def _pick_model(models: tuple[ModelSpec, ...], rng: random.Random) -> ModelSpec:
    return rng.choices(models, weights=[m.weight for m in models], k=1)[0]


def write_insight(context: InsightContext, settings: MutatorSettings) -> Insight:
    """One model call that writes the scratchpad; the prompt fits the same token budget."""
    rng = random.Random(context.seed * 1_000_033 + context.iteration)
    model = _pick_model(settings.models, rng) if settings.models else ModelSpec("offline")
    try:
        fitted = fit(
            context,
            shrink_context,
            lambda c: count_tokens(model.name, insight_messages(c, settings), model.api_base),
            settings.token_budget,
        )
        shown = fitted.state
        messages = insight_messages(shown, settings)
        prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
        result = complete(model, messages, rng, deadline=settings.deadline)
    except Exception as exc:  # a template error, a tokenizer fault: the run goes on without notes
        log.exception("the insight call could not be made")
        return Insight(context.iteration, "", context.program_ids, model.name, error=f"{type(exc).__name__}: {exc}")
    text = bounded(strip_reasoning(result.text or ""), INSIGHT_CHARS)
    error = result.error or (None if text else "the answer holds no notes")
    return Insight(
        iteration=context.iteration,
        text=text if error is None else "",
        program_ids=shown.program_ids,
        model=model.name,
        prompt=prompt,
        usage=result.usage,
        error=error,
    )
