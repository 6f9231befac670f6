"""How long a self-hosted model's answer may be: `max_tokens` sized from what the answer holds.

A small model sometimes rambles until `max_tokens` (Qwen2.5-Coder-0.5B once wrote 4,095 tokens
in 402 s on 2 cores for a program of about 900), and a cut answer is rarely a child. What a
mutation answer needs is bounded by the program it edits: an idea in a sentence or two, then at
most the program rewritten, somewhat longer. So a self-hosted model's call asks for twice the
program's tokens plus a margin, at least ANSWER_FLOOR, never more than the model's `max_tokens`
(already fitted into its window, evolve/mutate/window.py).

Hosted models keep their `max_tokens`: they write fast and rarely run on, a call cut short costs
the whole call, and reasoning models count their hidden thinking against the same limit, which a
size read from the program cannot foresee. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from evolve.mutate.llm import ModelSpec
from evolve.mutate.local import is_self_hosted

ANSWER_FLOOR = 512  # tokens: the idea and an edit of a small program, whatever its size
ANSWER_MARGIN = 256  # tokens: the idea before the code, the fence, a little growth
CODE_FACTOR = 2  # the program rewritten may grow; twice its size is a generous rewrite


def answer_tokens(program_tokens: int, cap: int) -> int:
    """The answer's `max_tokens` for a program of `program_tokens`, at most `cap`."""
    return min(cap, max(ANSWER_FLOOR, CODE_FACTOR * program_tokens + ANSWER_MARGIN))


def sized_for(model: ModelSpec, program_tokens: Callable[[], int]) -> ModelSpec:
    """The model as it is called for an answer about a program of `program_tokens()` tokens
    (counted only for a self-hosted model): a self-hosted one with `answer_tokens`, a hosted one
    unchanged."""
    if not is_self_hosted(model.name, model.api_base):
        return model
    return replace(model, max_tokens=answer_tokens(program_tokens(), model.max_tokens))
