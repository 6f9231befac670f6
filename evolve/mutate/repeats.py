"""Stop re-asking a model that repeats itself (issue 23, part 4).

A model whose re-ask gives the same answer again (same text once whitespace and case are evened
out) would give it a third time: the iteration's conversation stops at once, with the reason
REPEATED. A model that does so `limit` times in a run is not re-asked any more in that run: its
max_retries becomes 0, so each of its iterations costs one call. The ledger is the mutator's
state (one per MutatorSettings, shared by its threads); the policy itself is pure.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

REPEATED = "the re-ask repeated the same answer"
REPEAT_LIMIT = 2  # repeats in a run after which a model is no longer re-asked


def repeats_earlier(answer: str, earlier: list[str]) -> bool:
    """Whether `answer` (normalized) is one the model already gave in this iteration."""
    return answer in earlier


def retries_for(max_retries: int, repeats: int, limit: int = REPEAT_LIMIT) -> int:
    """The re-asks a model gets: none once it has repeated itself `limit` times in the run."""
    return 0 if limit > 0 and repeats >= limit else max_retries


@dataclass
class RepeatLedger:
    """How many times each model's re-ask repeated an earlier answer in this run."""

    limit: int = REPEAT_LIMIT
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __getstate__(self) -> dict:  # a lock does not pickle (a settings object sent to a worker)
        return {"limit": self.limit, "counts": dict(self.counts)}

    def __setstate__(self, state: dict) -> None:
        self.limit, self.counts, self.lock = state["limit"], state["counts"], threading.Lock()

    def retries(self, model: str, max_retries: int) -> int:
        with self.lock:
            return retries_for(max_retries, self.counts.get(model, 0), self.limit)

    def repeated(self, model: str) -> int:
        """Count one repeat of `model`; the count so far."""
        with self.lock:
            self.counts[model] = self.counts.get(model, 0) + 1
            return self.counts[model]
