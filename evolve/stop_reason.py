"""Why a run stopped: a kind the engine decides on and the words a person reads.

`str()` of a `StopReason` is its words, so messages read as they always did ("completed 10
iterations", "cost budget of $1 reached: ..."); what the run does next (score held-out data or
not, finish as failed or stopped) depends on the kind alone, never on how the words begin.
"""

from __future__ import annotations

from dataclasses import dataclass

from evolve.kinds import RunStatus, StopKind

_FAILED = frozenset({StopKind.CALLS_FAILING, StopKind.INFRA_BROKEN, StopKind.INITIAL_FAILED})
# After these, nothing more is evaluated (no repeats of the best, no held-out score).
_NO_MORE_EVALUATIONS = frozenset({StopKind.INTERRUPTED, StopKind.INFRA_BROKEN})


@dataclass(frozen=True)
class StopReason:
    """A run's stop: its kind and its words (`text`, what runs.stop_reason stores)."""

    kind: StopKind
    text: str

    def __str__(self) -> str:
        return self.text

    @property
    def status(self) -> RunStatus:
        """The status the run ends with."""
        if self.kind == StopKind.COMPLETED:
            return RunStatus.FINISHED
        if self.kind == StopKind.DISK_FULL:
            return RunStatus.INTERRUPTED  # to be resumed once there is space
        return RunStatus.FAILED if self.kind in _FAILED else RunStatus.STOPPED

    @property
    def evaluates_more(self) -> bool:
        """Whether the run may still evaluate after its loop (repeats of the best, held-out scores)."""
        return self.kind not in _NO_MORE_EVALUATIONS
