"""What a prompt remembers beyond the current program: how it came about (its lineage, each step
with the model's stated idea, a compact diff and the score change), what was tried from it or on
its island and did not help, where it sits in the MAP-Elites archive, the best and the diverse
programs, the run's latest insight, and a person's hints.

Plain frozen values, built by the population actor and carried to the mutator in the
`MutationTask`; the helpers that bound them are pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from evolve.mutate.views import ProgramView

DIFF_LINES = 30  # a lineage step's diff: enough to see the change, not a second program
DETAIL_CHARS = 400  # a rejection's reason, a failure's reason and feedback
TRACEBACK_LINES = 12  # the tail of a crash's logs: the exception and the frames nearest it
TRACEBACK_CHARS = 1200


def bounded(text: str, chars: int) -> str:
    """`text` cut to `chars` characters (with an ellipsis when cut)."""
    text = text.strip()
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def compact_diff(diff: str | None, lines: int = DIFF_LINES) -> str:
    """A unified diff without its file header, at most `lines` lines (the rest counted)."""
    body = [line for line in (diff or "").splitlines() if not line.startswith(("--- ", "+++ "))]
    if len(body) <= lines:
        return "".join(line + "\n" for line in body)
    kept = "".join(line + "\n" for line in body[:lines])
    return kept + f"... ({len(body) - lines} more diff lines)\n"


def log_tail(logs: str, lines: int = TRACEBACK_LINES, chars: int = TRACEBACK_CHARS) -> str:
    """The end of an evaluation's logs: from its last traceback, when there is one, at most
    `lines` non-blank lines and `chars` characters (the end kept: the exception is last)."""
    start = logs.rfind("Traceback (most recent call last)")
    text = logs[start:] if start >= 0 else logs
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    tail = "\n".join(kept)
    return tail if len(tail) <= chars else "…" + tail[-(chars - 1) :]


class TriedKind(StrEnum):
    REJECTED = "rejected"  # the answer made no child: its edit did not apply, or a duplicate
    WORSE = "worse"  # the child evaluated and scored no better than its parent
    FAILED = "failed"  # the child failed its evaluation: a crash, a timeout, an invalid result


@dataclass(frozen=True)
class TriedEdit:
    """One attempt that did not help, as later prompts show it."""

    kind: TriedKind
    iteration: int
    island: int
    parent_id: int
    mutation: str
    idea: str  # what the model said it would do ("" when it said nothing)
    detail: str = ""  # rejected, failed: exactly why
    score: float | None = None  # worse: the child's score
    parent_score: float | None = None
    traceback: str = ""  # failed: the tail of the evaluation's logs
    program_id: int | None = None  # worse, failed: the child

    @property
    def delta(self) -> float | None:
        if self.score is None or self.parent_score is None:
            return None
        return self.score - self.parent_score


def rejected(iteration: int, island: int, parent_id: int, mutation: str, idea: str, reason: str) -> TriedEdit:
    return TriedEdit(TriedKind.REJECTED, iteration, island, parent_id, mutation, idea, bounded(reason, DETAIL_CHARS))


def evaluated(
    *,
    program_id: int,
    iteration: int,
    island: int,
    parent_id: int,
    mutation: str,
    idea: str,
    parent_score: float | None,
    ok: bool,
    score: float | None,
    reason: str,
    feedback: str,
    logs: str,
) -> TriedEdit | None:
    """An evaluated child as a tried edit: a failure, or a score no better than its parent's;
    None when the child improved on its parent (that is lineage, not something to avoid)."""
    if ok:
        if score is None or parent_score is None or score > parent_score:
            return None
        return TriedEdit(
            TriedKind.WORSE, iteration, island, parent_id, mutation, idea, "", score, parent_score, "", program_id
        )
    detail = reason + (f"\nEvaluator feedback: {feedback}" if feedback else "")
    return TriedEdit(
        TriedKind.FAILED,
        iteration,
        island,
        parent_id,
        mutation,
        idea,
        bounded(detail, DETAIL_CHARS),
        None,
        parent_score,
        log_tail(logs),
        program_id,
    )


def pick_tried(entries: list[TriedEdit], parent_id: int, count: int) -> tuple[TriedEdit, ...]:
    """The `count` most recent attempts, those from this parent first, then the island's;
    oldest first, as they happened."""
    if count <= 0:
        return ()
    newest = sorted(entries, key=lambda e: e.iteration, reverse=True)
    mine = [e for e in newest if e.parent_id == parent_id][:count]
    others = [e for e in newest if e.parent_id != parent_id][: count - len(mine)]
    return tuple(sorted([*mine, *others], key=lambda e: e.iteration))


@dataclass(frozen=True)
class LineageStep:
    """How a program was made from its parent."""

    program_id: int
    parent_id: int
    iteration: int
    mutation: str
    idea: str
    diff: str  # compact: no header, bounded
    score: float | None
    parent_score: float | None

    @property
    def delta(self) -> float | None:
        if self.score is None or self.parent_score is None:
            return None
        return self.score - self.parent_score


@dataclass(frozen=True)
class CellAxis:
    """One MAP-Elites axis, as a prompt explains it."""

    name: str
    low: float
    high: float
    bins: int

    @property
    def meaning(self) -> str:
        if self.name == "code_length":
            return "the program's length in characters"
        if self.name == "novelty":
            return "the share of lines that differ from the initial program"
        return f"the evaluator's metric '{self.name}'"

    def span(self, index: int) -> tuple[float, float]:
        width = (self.high - self.low) / self.bins
        return self.low + index * width, self.low + (index + 1) * width


@dataclass(frozen=True)
class Coordinates:
    """The axes of the archive and the current program's cell on them."""

    axes: tuple[CellAxis, ...]
    cell: tuple[int, ...]

    def describe(self, cell: tuple[int, ...] | list[int] | None = None) -> str:
        """`cell` (the current program's by default) in words: each axis's range and bin."""
        cell = self.cell if cell is None else tuple(cell)
        parts = []
        for axis, index in zip(self.axes, cell):
            low, high = axis.span(index)
            parts.append(f"{axis.name} {low:.4g}–{high:.4g} (bin {index + 1} of {axis.bins})")
        return ", ".join(parts)


@dataclass(frozen=True)
class InsightNote:
    """The run's latest scratchpad, as later prompts show it."""

    iteration: int  # evaluations done when it was written
    text: str


@dataclass(frozen=True)
class HintNote:
    """A person's hint, as the prompt shows it (evolve/store/hints.py keeps them)."""

    id: int
    text: str
    iteration: int  # the run's iteration when it arrived


@dataclass(frozen=True)
class Memory:
    """Everything a prompt shows beyond the current program and the inspirations."""

    lineage: tuple[LineageStep, ...] = ()  # oldest first; the last step made the current program
    top: tuple[ProgramView, ...] = ()  # the run's best programs, best first, shown in full
    diverse: tuple[ProgramView, ...] = ()  # elites of other cells of the island
    tried: tuple[TriedEdit, ...] = ()  # oldest first
    coordinates: Coordinates | None = None
    insight: InsightNote | None = None
    hints: tuple[HintNote, ...] = ()  # a person's hints for this island, oldest first
