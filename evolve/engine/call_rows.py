"""Model calls as the population actor writes them: a proposal's calls (the answers sent back
before the last, `retried`; the last one, with the iteration's outcome), the child it made, a
novelty judge's call (a row of its own), an insight call. A proposal's rows are one transaction."""

from __future__ import annotations

from evolve.kinds import CallOutcome, Mutation
from evolve.mutate.insight import Insight
from evolve.mutate.propose import Proposal
from evolve.search.judge import Verdict
from evolve.store import CallRow, RunWriter


def write_calls(writer: RunWriter, proposal: Proposal, outcome: CallOutcome, reason: str | None) -> int:
    """Every call of the proposal; returns the id of the last (the one a child comes from)."""
    for number, earlier in enumerate(proposal.earlier_attempts, 1):
        writer.add_call(
            CallRow(
                iteration=proposal.iteration,
                island=proposal.island,
                parent_id=proposal.parent_id,
                model=proposal.model,
                mutation=proposal.mutation,
                prompt=earlier.prompt,
                answer=earlier.answer,
                usage=earlier.usage,
                error=None,
                outcome=CallOutcome.REJECTED,
                reject_reason=earlier.reject_reason,
                answer_form=earlier.answer_form,
                attempt=number,
                retried=True,
            )
        )
    last = CallRow(
        iteration=proposal.iteration,
        island=proposal.island,
        parent_id=proposal.parent_id,
        model=proposal.model,
        mutation=proposal.mutation,
        prompt=proposal.prompt,
        answer=proposal.answer,
        usage=proposal.usage,
        error=proposal.error,
        outcome=outcome,
        reject_reason=reason,
        answer_form=proposal.answer_form,
        attempt=len(proposal.earlier_attempts) + 1,
    )
    return writer.add_call(last)


def write_verdict(writer: RunWriter, proposal: Proposal, verdict: Verdict) -> None:
    """The judge's call is a row of its own (not the iteration's outcome: `retried` is set)."""
    writer.add_call(
        CallRow(
            iteration=proposal.iteration,
            island=proposal.island,
            parent_id=proposal.parent_id,
            model=verdict.model,
            mutation=Mutation.JUDGE,
            prompt=verdict.prompt,
            answer=verdict.answer,
            usage=verdict.usage,
            error=verdict.error,
            outcome=CallOutcome.JUDGE,
            reject_reason=("near-duplicate: " if verdict.near_duplicate else "novel: ") + verdict.reason,
            attempt=0,
            retried=True,
        )
    )


def write_child(
    writer: RunWriter,
    proposal: Proposal,
    code: str,
    digest: str,
    generation: int,
    diff: str,
    call_id: int,
    hint_ids: tuple[int, ...] = (),
) -> int:
    """The child program, pending its evaluation; returns its id. `hint_ids`: the hints its prompt showed."""
    return writer.add_child(
        code=code,
        code_hash=digest,
        parent_id=proposal.parent_id,
        second_parent_id=proposal.second_parent_id,
        inspiration_ids=proposal.inspiration_ids,
        island=proposal.island,
        generation=generation,
        iteration=proposal.iteration,
        mutation=proposal.mutation,
        diff=diff,
        llm_call_id=call_id,
        propose_seconds=proposal.total_latency,
        idea=proposal.idea,
        hint_ids=hint_ids,
    )


def write_insight(writer: RunWriter, insight: Insight) -> None:
    """The scratchpad (or the failed call)."""
    writer.add_insight(
        iteration=insight.iteration,
        text=insight.text,
        program_ids=insight.program_ids,
        model=insight.model,
        prompt=insight.prompt,
        usage=insight.usage,
        error=insight.error,
    )
