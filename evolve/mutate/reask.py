"""What a re-ask shows the model and how it asks: re-asks that change something (issue 23, part 4).

A small model given the same conversation again at the same temperature gives the same answer
again, so each re-ask changes what the model sees and how it samples:
  - the reason first, then the exact lines to copy: for a SEARCH that matches nothing, the
    parent's block lines closest to it (difflib), verbatim; for an edit outside the blocks, the
    blocks' exact current text;
  - a higher temperature (+0.3 per re-ask, capped) and a different seed where the provider takes one;
  - a bounded conversation: the system message and first prompt, the last rejected answer as a
    short excerpt (earlier ones are left out), and the re-ask. Its size does not grow per re-ask.

How many re-asks, and for what (`reask_policy`): `[mutation] max_retries` when set, for any
reason. Unset, a hosted model gets HOSTED_RETRIES for any reason; a self-hosted one (a small
model, most often) gets SELF_HOSTED_RETRIES, only for a reason a re-ask fixes (`fixed_by_reask`:
a SEARCH that matches nothing, shown the exact lines to copy; a child that is not valid Python,
shown the error line; after a small model's focused prompt, its code given back unchanged, told
so), never for an answer cut at max_tokens, and without its rejected answer echoed back:
Qwen2.5-Coder-0.5B re-asked for prose or for a program that changed frozen code gave the same
failure again, and copied the echo, clipping marker included, into its next answer.
Pure functions, no I/O.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from evolve.clip import clip, excerpt
from evolve.edit import strip_reasoning
from evolve.edit.blocks import BlockError, find_blocks
from evolve.edit.search_replace import parse_search_replace

TEMPERATURE_STEP = 0.3  # added per re-ask: a re-ask sampled like the first answer repeats it
TEMPERATURE_CAP = 1.2  # beyond this small models write noise; a spec above it keeps its own
ECHO_BYTES = 2 * 1024  # the most of the rejected answer a re-ask shows (its first and last lines)
# ... when it also shows lines to copy: those say what to do; the answer (often the whole program
# again) is only a reminder of what was said.
ECHO_WITH_COPY_BYTES = 512
REASON_BYTES = 4 * 1024  # the most of the reason a re-ask shows
COPY_BYTES = 4 * 1024  # the most of the lines to copy a re-ask shows

_NO_MATCH = re.compile(r"SEARCH block (\d+) matches nothing")
_OUTSIDE = ("outside the EVOLVE-BLOCKs", "EVOLVE-BLOCK markers")
_NO_EDIT = "the answer holds no edit"
_NOT_PYTHON = "the child is not valid Python"
# What evolve/edit/child.py says of code given back unchanged (comments and formatting aside).
_UNCHANGED = ("the edit changes nothing", "the edit changes only comments or formatting")
HOSTED_RETRIES = 2  # re-asks per iteration when [mutation] max_retries is unset
SELF_HOSTED_RETRIES = 1  # ... for a self-hosted model: calls per iteration stay under 2
FIRST_LINES = 3  # of the block, shown to an answer with no edit as the SEARCH to copy


def reask_temperature(base: float, attempt: int) -> float:
    """The temperature of call `attempt` (0: the first call, 1: the first re-ask, ...)."""
    if attempt <= 0:
        return base
    return max(base, min(base + TEMPERATURE_STEP * attempt, TEMPERATURE_CAP))


def call_seed(task_seed: int, iteration: int, attempt: int) -> int:
    """A seed per call of the iteration, so a re-ask samples differently; reproducible per run."""
    return (task_seed * 1_000_003 + iteration * 101 + attempt) % (2**31 - 1)


def _block_lines(parent: str) -> list[list[str]]:
    """The body lines of each EVOLVE-BLOCK of the parent (the whole program when it has none)."""
    lines = parent.splitlines()
    try:
        blocks = find_blocks(parent)
    except BlockError:
        blocks = []
    if not blocks:
        return [lines]
    return [lines[b.start + 1 : b.end] for b in blocks]


def _likeness(wanted: list[str], window: list[str]) -> float:
    """How alike two runs of stripped lines are, line by line (a long line does not outweigh the rest)."""
    return sum(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() for a, b in zip(wanted, window))


def closest_lines(parent: str, search: str) -> str:
    """The run of the parent's block lines most like `search` (as many non-blank lines as it
    has), verbatim: what the SEARCH should have copied."""
    wanted = [line.strip() for line in search.splitlines() if line.strip()]
    if not wanted:
        return ""
    best, best_score = "", -1.0
    for body in _block_lines(parent):
        kept = [i for i, line in enumerate(body) if line.strip()]
        width = min(len(wanted), len(kept))
        for k in range(len(kept) - width + 1):
            window = [body[i].strip() for i in kept[k : k + width]]
            score = _likeness(wanted, window)
            if score > best_score:
                best, best_score = "\n".join(body[kept[k] : kept[k + width - 1] + 1]), score
    return best


def blocks_text(parent: str) -> str:
    """The parent's EVOLVE-BLOCK bodies exactly as they are, one after the other."""
    return "\n\n".join("\n".join(body) for body in _block_lines(parent) if any(line.strip() for line in body))


def lines_to_copy(parent: str, answer: str, reason: str) -> str:
    """The exact text of the parent the re-ask asks the model to copy, or "" when the reason
    needs none: the closest block lines to a SEARCH that matched nothing; the blocks' current
    text for an edit that changed what lies outside them; the block's first lines for an answer
    with no edit (the SEARCH of an example edit)."""
    found = _NO_MATCH.search(reason)
    if found:
        edits = parse_search_replace(strip_reasoning(answer))
        index = int(found.group(1)) - 1
        if 0 <= index < len(edits):
            return excerpt(closest_lines(parent, edits[index].search), COPY_BYTES)
    if any(words in reason for words in _OUTSIDE):
        return excerpt(blocks_text(parent), COPY_BYTES)
    if reason.startswith(_NO_EDIT):  # an example edit made of the program's own lines
        body = next((b for b in _block_lines(parent) if any(line.strip() for line in b)), [])
        kept = [i for i, line in enumerate(body) if line.strip()][:FIRST_LINES]
        return excerpt("\n".join(body[kept[0] : kept[-1] + 1]), COPY_BYTES) if kept else ""
    return ""


@dataclass(frozen=True)
class ReaskPolicy:
    retries: int  # re-asks per iteration at most (before the repeat rule, mutate/repeats.py)
    fixable_only: bool  # re-ask only for a reason `fixed_by_reask`
    echo: bool  # show the rejected answer back, as the model's own turn


def reask_policy(max_retries: int | None, self_hosted: bool) -> ReaskPolicy:
    """The re-asks of a model: `max_retries` (set in problem.toml) for any reason; unset, by where
    the model is served (see the module's docstring)."""
    if max_retries is not None:
        return ReaskPolicy(max_retries, fixable_only=False, echo=True)
    if self_hosted:
        return ReaskPolicy(SELF_HOSTED_RETRIES, fixable_only=True, echo=False)
    return ReaskPolicy(HOSTED_RETRIES, fixable_only=False, echo=True)


def fixed_by_reask(reason: str, cut: bool, focused: bool = False) -> bool:
    """Whether a re-ask can fix what the reason names, for a model that rarely changes its answer:
    a SEARCH that matches nothing (the re-ask shows the lines to copy) or a child that is not valid
    Python (it names the line); after a small model's focused prompt (prompts/small.j2), also its
    code given back unchanged (`unchanged`); not an answer cut at max_tokens (`cut`), which would
    run on again."""
    if cut:
        return False
    return bool(_NO_MATCH.search(reason)) or reason.startswith(_NOT_PYTHON) or (focused and unchanged(reason))


def unchanged(reason: str) -> bool:
    """Whether the answer's code was the program's own, comments and formatting aside. Asked again,
    hotter and told so, Qwen2.5-Coder-0.5B gave a child 2 times in 4 (bench/RESULTS.md)."""
    return reason.startswith(_UNCHANGED)


def normalized(answer: str) -> str:
    """An answer with its whitespace and case evened out: two answers equal here are the same answer."""
    return " ".join(strip_reasoning(answer).split()).lower()


@dataclass(frozen=True)
class ReaskText:
    """What one re-ask says, bounded: the reason, the lines to copy, the rejected answer's excerpt."""

    reason: str
    copy: str
    echo: str

    @classmethod
    def of(cls, parent: str, answer: str, reason: str) -> ReaskText:
        copy = lines_to_copy(parent, answer, reason)
        return cls(clip(reason, REASON_BYTES), copy, excerpt(answer, ECHO_WITH_COPY_BYTES if copy else ECHO_BYTES))


def conversation(first: list[dict], said: ReaskText, reask: dict, echo: bool = True) -> list[dict]:
    """The messages of a re-ask: the first prompt (system and user), the last rejected answer as an
    excerpt (unless `echo` is off), the re-ask. Earlier rejected answers are left out, so each
    re-ask is about as long as the first prompt plus a bounded tail, however many came before."""
    if not echo:
        return [*first, reask]
    return [*first, {"role": "assistant", "content": said.echo}, reask]
