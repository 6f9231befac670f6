"""What the run's loop waits on: one typed record per future in flight, by kind of work.

A candidate moves through a `ModelCall` (a model call on a thread of this process), an
`Admission` (the population actor storing the proposal and deciding whether to evaluate it; a
near-duplicate first goes to the novelty judge, a `Verdict`), the queue of tickets waiting for an
evaluation slot, an `Evaluation` (in a sandbox, a Ray task) and `Stored` (the actor storing the
finished outcome). An `InsightCall` writes the run's scratchpad, and its text is `Stored` too.
"""

from __future__ import annotations

from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from evolve.mutate.propose import Proposal


@dataclass(frozen=True)
class ModelCall:
    """A mutation's model call; the task's Ray reference records a proposal whose mutator raised."""

    task_ref: Any


@dataclass(frozen=True)
class Admission:
    """The actor storing a proposal and deciding whether to evaluate it; `ref` is its Ray reference."""

    proposal: Proposal
    ref: Any


@dataclass(frozen=True)
class Verdict:
    """The novelty judge's call on a near-duplicate; the proposal goes back to the actor with it."""

    proposal: Proposal


@dataclass(frozen=True)
class Evaluation:
    """A ticket's evaluation, a Ray task; `ref` cancels it."""

    ticket: Any
    ref: Any


@dataclass(frozen=True)
class InsightCall:
    """The model call writing the run's scratchpad (one at a time)."""


@dataclass(frozen=True)
class Stored:
    """The actor storing a result or an insight; its answer is the run's progress."""

    ref: Any


Work = ModelCall | Admission | Verdict | Evaluation | InsightCall | Stored


class InFlight:
    """Every future the loop waits on, with what it is, and the tickets waiting for a slot."""

    def __init__(self) -> None:
        self.work: dict[Future, Work] = {}
        self.counts: Counter[type] = Counter()
        self.waiting_for_slot: deque = deque()  # admitted tickets, in the order they evaluate

    def add(self, future: Future, work: Work) -> None:
        self.work[future] = work
        self.counts[type(work)] += 1

    def pop(self, future: Future) -> Work:
        work = self.work.pop(future)
        self.counts[type(work)] -= 1
        return work

    def count(self, *kinds: type) -> int:
        return sum(self.counts[kind] for kind in kinds)

    def backlog(self) -> int:
        """Candidates on their way to an evaluation slot: bounds how far model calls run ahead."""
        return self.count(ModelCall, Admission, Verdict) + len(self.waiting_for_slot)

    def cancel_evaluations(self) -> None:
        """Cancel every evaluation in flight and stop waiting on it."""
        import ray

        for future, work in list(self.work.items()):
            if isinstance(work, Evaluation):
                ray.cancel(work.ref, force=True)
                self.pop(future)

    def cancel_model_calls(self) -> None:
        """Cancel the model calls not started yet; a call in flight ends on its own timeout."""
        for future, work in self.work.items():
            if isinstance(work, ModelCall):
                future.cancel()
