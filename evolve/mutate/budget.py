"""Keep a prompt under its token budget: drop the oldest and least important context first.

Pure. `fit` measures a state, and while it is over budget takes the next smaller state from
`shrink`, which drops one item at a time. For a mutation prompt (`shrink_prompt`) the bulky and
the least specific to the current program go first: the other inspirations (last first), the
elites of other cells (last first), the best programs but the very best (lowest first), the
lineage (oldest step first), the very best program, what was tried (oldest first), the insight.
The current program, its metrics, feedback and cell, and the task itself are never dropped: a
prompt whose parent alone is over the budget goes out as small as it can be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from evolve.mutate.memory import Memory
from evolve.mutate.views import ProgramView

S = TypeVar("S")


@dataclass(frozen=True)
class Fitted(Generic[S]):
    state: S
    tokens: int  # as measured, for the state returned
    dropped: int  # items dropped to get there

    def within(self, budget: int) -> bool:
        return self.tokens <= budget


def fit(state: S, shrink: Callable[[S], S | None], measure: Callable[[S], int], budget: int) -> Fitted[S]:
    """The largest state on `shrink`'s path that `measure`s at most `budget` (or the smallest)."""
    tokens, dropped = measure(state), 0
    while tokens > budget:
        smaller = shrink(state)
        if smaller is None:
            break
        state, tokens, dropped = smaller, measure(smaller), dropped + 1
    return Fitted(state, tokens, dropped)


@dataclass(frozen=True)
class PromptParts:
    """What a mutation prompt may drop: the inspirations and the memory."""

    inspirations: tuple[ProgramView, ...]
    memory: Memory


def shrink_prompt(parts: PromptParts) -> PromptParts | None:
    """`parts` less one item, the least important first; None when nothing is left to drop."""
    m = parts.memory
    if parts.inspirations:
        return replace(parts, inspirations=parts.inspirations[:-1])
    if m.diverse:
        return replace(parts, memory=replace(m, diverse=m.diverse[:-1]))
    if len(m.top) > 1:
        return replace(parts, memory=replace(m, top=m.top[:-1]))
    if m.lineage:
        return replace(parts, memory=replace(m, lineage=m.lineage[1:]))
    if m.top:
        return replace(parts, memory=replace(m, top=()))
    if m.tried:
        return replace(parts, memory=replace(m, tried=m.tried[1:]))
    if m.insight is not None:
        return replace(parts, memory=replace(m, insight=None))
    return None
