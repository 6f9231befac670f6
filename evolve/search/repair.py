"""Which failed children go back to the model with their error, to be repaired (the `fix` kind).

A failed child is worth repairing when the failure is the candidate's own (it crashed, ran out of
time or memory, broke a constraint, returned garbage), not the machinery's (a sandbox fault, a lost
worker, an interrupted run), and when it is promising: its parent was among the best of its island
when it failed. Each island keeps its few most promising failures; each is sent back at most once,
the one with the best parent first. ShinkaEvolve asks for a fix when no correct parent exists; here
a fix is one more arm of the bandit, so it gets calls as long as fixes pay.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from evolve.kinds import FailureKind

FIXABLE = frozenset(
    {
        FailureKind.TIMEOUT,
        FailureKind.MEMORY,
        FailureKind.CRASH,
        FailureKind.INVALID_RESULT,
        FailureKind.EVALUATOR_ERROR,
        FailureKind.CANDIDATE_REJECTED,
        FailureKind.CASCADE,
    }
)
CAPACITY = 8  # failures kept per island
MAX_ERROR = 3000  # characters of the error shown to the model


@dataclass(frozen=True, order=True)
class Broken:
    """A failed child that may be repaired; ordered by its parent's score."""

    parent_score: float
    program_id: int
    island: int = field(compare=False)
    error: str = field(compare=False)


def fixable(kind: str | None) -> bool:
    return kind is not None and kind in FIXABLE


def error_text(reason: str, feedback: str = "", logs: str = "") -> str:
    """The error the fix prompt shows: the reason, the evaluator's feedback, the end of the logs."""
    parts = [reason.strip()]
    if feedback.strip():
        parts.append(f"Evaluator feedback:\n{feedback.strip()}")
    if logs.strip():
        parts.append(f"Output (last lines):\n{logs.strip()[-1500:]}")
    text = "\n\n".join(parts)
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


class RepairQueue:
    def __init__(self, islands: int, capacity: int = CAPACITY):
        self.capacity = capacity
        self.queues: list[list[Broken]] = [[] for _ in range(islands)]  # ascending: the best is last
        self.sent: set[int] = set()  # failed programs already sent back

    def offer(self, broken: Broken, elite_floor: float | None) -> bool:
        """Keep a failure when its parent scored at least `elite_floor` (None: any parent)."""
        if broken.program_id in self.sent:
            return False
        if elite_floor is not None and broken.parent_score < elite_floor:
            return False
        queue = self.queues[broken.island]
        bisect.insort(queue, broken)
        if len(queue) > self.capacity:
            queue.pop(0)
        return broken in queue

    def available(self, island: int) -> bool:
        return bool(self.queues[island])

    def peek(self, island: int) -> Broken | None:
        queue = self.queues[island]
        return queue[-1] if queue else None

    def take(self, island: int) -> Broken | None:
        """The most promising failure of the island, never handed out twice."""
        queue = self.queues[island]
        if not queue:
            return None
        broken = queue.pop()
        self.sent.add(broken.program_id)
        return broken

    def mark_sent(self, program_id: int) -> None:
        """A failure already sent back (a resumed run reads them from the store)."""
        self.sent.add(program_id)
        for queue in self.queues:
            queue[:] = [b for b in queue if b.program_id != program_id]

    def wipe(self, island: int) -> None:
        self.queues[island] = []
