"""What an event row's `data` holds: one frozen payload per `EventKind`.

A payload names its own kind (`event`), so a row's kind and its data cannot disagree. It becomes
JSON in one place, `event_values` (the writer, hints and `evolve rescore` insert through it), and
a reader turns a row back into the same type with `read_payload`. Sequences are tuples here and
lists in the row; a key a row written by an older version lacks takes the field's default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from evolve.kinds import EventKind, StopKind


@dataclass(frozen=True)
class StartPayload:
    event: ClassVar[EventKind] = EventKind.START
    mutator: str = ""  # how the run mutates ("offline", "llm: ...")
    sandbox: str = ""


@dataclass(frozen=True)
class ResumePayload:
    event: ClassVar[EventKind] = EventKind.RESUME
    iterations_target: int | None = None  # the resumed run's new target (None: unchanged)


@dataclass(frozen=True)
class StopPayload:
    event: ClassVar[EventKind] = EventKind.STOP
    kind: StopKind | None = None  # None in rows written before stops had kinds

    def __post_init__(self) -> None:
        if self.kind is not None:  # read back from JSON as its plain value
            object.__setattr__(self, "kind", StopKind(self.kind))


@dataclass(frozen=True)
class PausePayload:
    event: ClassVar[EventKind] = EventKind.PAUSE
    cause: str = ""  # the machinery's fault, one line


@dataclass(frozen=True)
class RecoveredPayload:
    event: ClassVar[EventKind] = EventKind.RECOVERED
    paused_seconds: float = 0.0


@dataclass(frozen=True)
class NodeAvoidedPayload:
    event: ClassVar[EventKind] = EventKind.NODE_AVOIDED
    node: str
    seconds: float  # how long it is avoided
    faults: int  # its faults so far


@dataclass(frozen=True)
class NewBestPayload:
    event: ClassVar[EventKind] = EventKind.NEW_BEST
    program_id: int
    score: float
    repeats: tuple[float | None, ...] = ()  # repeat_best: the winner's scores (None: a failed repeat)


@dataclass(frozen=True)
class MigrationPayload:
    event: ClassVar[EventKind] = EventKind.MIGRATION
    moves: tuple[tuple[int, int, int], ...]  # (from island, to island, program id), replayed on resume


@dataclass(frozen=True)
class ResetPayload:
    event: ClassVar[EventKind] = EventKind.RESET
    islands: tuple[int, ...]  # the islands wiped
    seeds: tuple[tuple[int, int], ...]  # (island, the program it restarts from)
    after_evaluation: int  # the id of the evaluation that triggered it


@dataclass(frozen=True)
class HintPayload:
    event: ClassVar[EventKind] = EventKind.HINT
    text: str
    iteration: int  # the run's latest iteration when it arrived
    island: int | None = None  # None: every island
    for_iterations: int | None = None  # None: until withdrawn


@dataclass(frozen=True)
class ClearPayload:
    """Hints withdrawn, at which iteration."""

    event: ClassVar[EventKind] = EventKind.HINT_CLEARED
    hint_ids: tuple[int, ...]
    iteration: int


@dataclass(frozen=True)
class RescorePayload:
    event: ClassVar[EventKind] = EventKind.RESCORE
    evaluator: str
    program_ids: tuple[int, ...]


EventPayload = (
    StartPayload
    | ResumePayload
    | StopPayload
    | PausePayload
    | RecoveredPayload
    | NodeAvoidedPayload
    | NewBestPayload
    | MigrationPayload
    | ResetPayload
    | HintPayload
    | ClearPayload
    | RescorePayload
)
PAYLOADS: dict[EventKind, type[EventPayload]] = {
    cls.event: cls
    for cls in (
        StartPayload,
        ResumePayload,
        StopPayload,
        PausePayload,
        RecoveredPayload,
        NodeAvoidedPayload,
        NewBestPayload,
        MigrationPayload,
        ResetPayload,
        HintPayload,
        ClearPayload,
        RescorePayload,
    )
}


def _to_json(value: Any) -> Any:
    return [_to_json(v) for v in value] if isinstance(value, tuple) else value


def _from_json(value: Any) -> Any:
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def event_values(run_id: int, payload: EventPayload, message: str, created_at: datetime) -> dict[str, Any]:
    """An events row's columns: the payload's kind, and its fields as JSON."""
    data = {f.name: _to_json(getattr(payload, f.name)) for f in fields(payload)}
    return dict(run_id=run_id, kind=payload.event, message=message, data=data, created_at=created_at)


def read_payload(kind: str, data: dict[str, Any] | None) -> EventPayload:
    """A row's data as its kind's payload (keys it does not know are left out)."""
    cls = PAYLOADS[EventKind(kind)]
    known = {f.name for f in fields(cls)}
    return cls(**{key: _from_json(value) for key, value in (data or {}).items() if key in known})
