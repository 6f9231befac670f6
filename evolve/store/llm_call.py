"""One row of `llm_calls` as a value: a model call (or an offline proposal) and what it led to.

The population actor builds them (evolve/engine/call_rows.py), as do the benchmark generators;
`RunWriter.add_call` writes one. What the call spent is its `CallUsage`, written into the row's
token, cost, latency and attempts columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evolve.clip import clip
from evolve.kinds import CallOutcome
from evolve.usage import CallUsage


@dataclass(frozen=True)
class CallRow:
    iteration: int
    island: int
    parent_id: int | None
    model: str
    mutation: str  # a `Mutation` (diff, full, ... judge)
    prompt: str  # the conversation as sent
    answer: str | None  # None: no answer (the call failed, or was never made)
    usage: CallUsage
    error: str | None  # the call failed: why
    outcome: CallOutcome
    reject_reason: str | None = None  # or the judge's verdict
    answer_form: str | None = None  # how the answer was read (`AnswerForm`)
    attempt: int = 1  # the answer's number in its iteration's conversation; 0: a judge's call
    retried: bool = False  # rejected and sent back to the model (or a judge's call): not the iteration's outcome

    def columns(self) -> dict[str, Any]:
        """The row's columns but its run and time. No text a model wrote (or what it was sent) is
        kept past MAX_ROW_BYTES (evolve/clip.py)."""
        usage = self.usage
        return dict(
            iteration=self.iteration,
            model=self.model,
            mutation=self.mutation,
            prompt=clip(self.prompt),
            answer=clip(self.answer) if self.answer is not None else None,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost=usage.cost,
            latency=usage.latency,
            attempts=usage.attempts,
            error=clip(self.error) if self.error is not None else None,
            outcome=self.outcome,
            reject_reason=clip(self.reject_reason) if self.reject_reason is not None else None,
            answer_form=self.answer_form,
            attempt=self.attempt,
            retried=self.retried,
            parent_id=self.parent_id,
            island=self.island,
        )
