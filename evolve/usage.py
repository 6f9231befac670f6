"""What one model call spent: its tokens, dollars, seconds and HTTP tries, as one value.

Every model call's result carries it (a `Completion`, a proposal and its re-asked answers, a
judge's verdict, an insight), and the store writes it into the call's row. It lives at the top of
the package because the pure `evolve.search` (the judge's verdict) carries it too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class CallUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # USD
    latency: float = 0.0  # seconds, its retries and their waits included
    attempts: int = 1  # HTTP tries (transient faults retried); 0: the call was never sent

    def plus_cost(self, extra: float) -> CallUsage:
        """The same call with `extra` dollars spent beside it (a child's embedding, say)."""
        return replace(self, cost=self.cost + extra)
