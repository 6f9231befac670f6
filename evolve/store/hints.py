"""Hints: what a person tells a running search ("try a hexagonal lattice"), as event rows.

A hint is a HINT event whose data is a `HintPayload`; withdrawing hints is a HINT_CLEARED event
whose data is a `ClearPayload` (both in evolve/store/events.py). Any process may write them
(`evolve hint`, the live page, a test): the running population actor reads the events newer than the last it saw
(`HintBoard.refresh`, one query by id), so a hint reaches the next prompts of a run on any store,
SQLite or PostgreSQL, and a resumed run reads them all again. A hint shows from the iteration it
arrived at until it expires (`for_iterations`) or is withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine

from evolve.errors import OptionError
from evolve.kinds import EventKind
from evolve.store.events import ClearPayload, HintPayload, event_values, read_payload
from evolve.store.models import Event, LLMCall, Program, Run, utcnow
from evolve.store.run_config import RunConfig

MAX_HINT_CHARS = 2000  # a hint is a sentence or a paragraph, not a second prompt


@dataclass(frozen=True)
class Hint:
    """A hint as it stands: when it arrived, until when it shows, whether it was withdrawn."""

    id: int  # its event's id
    text: str
    iteration: int  # arrived at
    island: int | None
    for_iterations: int | None
    cleared_at: int | None = None  # the iteration it was withdrawn at

    @property
    def until(self) -> int | None:
        """The last iteration whose prompt shows it (None: no expiry)."""
        return None if self.for_iterations is None else self.iteration + self.for_iterations

    def shows(self, iteration: int, island: int) -> bool:
        if self.cleared_at is not None:
            return False
        if self.island is not None and self.island != island:
            return False
        return self.until is None or iteration <= self.until

    def active(self, iteration: int) -> bool:
        """Still shown to some island after `iteration`."""
        return self.cleared_at is None and (self.until is None or iteration < self.until)


def latest_iteration(conn: Connection, run_id: int) -> int:
    """The run's newest iteration so far: of its model calls and of its programs."""
    calls = conn.execute(select(func.max(LLMCall.iteration)).where(LLMCall.run_id == run_id)).scalar()
    programs = conn.execute(select(func.max(Program.iteration)).where(Program.run_id == run_id)).scalar()
    return max(int(calls or 0), int(programs or 0))


def _islands(conn: Connection, run_id: int) -> int:
    config = conn.execute(select(Run.config).where(Run.id == run_id)).scalar_one()
    return RunConfig.from_json(config).islands


def add_hint(
    engine: Engine, run_id: int, text: str, island: int | None = None, for_iterations: int | None = None
) -> Hint:
    """Store a hint for the run's next prompts; a bad value is an `OptionError`, nothing stored."""
    text = text.strip()
    if not text:
        raise OptionError('the hint is empty: say what the search should try (evolve hint RUN "...")')
    if len(text) > MAX_HINT_CHARS:
        raise OptionError(f"the hint has {len(text)} characters; at most {MAX_HINT_CHARS}")
    if for_iterations is not None and for_iterations < 1:
        raise OptionError(f"--for {for_iterations}: a hint lasts at least 1 iteration")
    with engine.begin() as conn:
        islands = _islands(conn, run_id)
        if island is not None and not 0 <= island < islands:
            raise OptionError(f"--island {island}: the run has islands 0 to {islands - 1}")
        payload = HintPayload(text, latest_iteration(conn, run_id), island, for_iterations)
        where = "every island" if island is None else f"island {island}"
        result = conn.execute(
            insert(Event).values(event_values(run_id, payload, f"hint for {where}: {text}", utcnow()))
        )
        key = result.inserted_primary_key
        assert key is not None
    return Hint(int(key[0]), text, payload.iteration, island, for_iterations)


def clear_hints(engine: Engine, run_id: int, island: int | None = None) -> list[int]:
    """Withdraw the run's active hints (with `island`: those for that island alone); returns
    their ids (none: nothing is written)."""
    with engine.begin() as conn:
        now = latest_iteration(conn, run_id)
        hints = read_hints(conn, run_id)
        ids = tuple(h.id for h in hints if h.active(now) and (island is None or h.island == island))
        if ids:
            message = f"hints withdrawn: {', '.join(map(str, ids))}"
            conn.execute(insert(Event).values(event_values(run_id, ClearPayload(ids, now), message, utcnow())))
    return list(ids)


def _hint_events(conn: Connection, run_id: int, after_id: int = 0) -> list[Any]:
    return list(
        conn.execute(
            select(Event.id, Event.kind, Event.data)
            .where(
                Event.id > after_id, Event.run_id == run_id, Event.kind.in_((EventKind.HINT, EventKind.HINT_CLEARED))
            )
            .order_by(Event.id)
        ).all()
    )


def _apply(hints: dict[int, Hint], rows: list[Any]) -> None:
    for row in rows:
        match read_payload(row.kind, row.data):
            case HintPayload() as p:
                hints[row.id] = Hint(row.id, p.text, p.iteration, p.island, p.for_iterations)
            case ClearPayload() as cleared:
                for hint_id in cleared.hint_ids:
                    if hint_id in hints and hints[hint_id].cleared_at is None:
                        hints[hint_id] = replace(hints[hint_id], cleared_at=cleared.iteration)


def read_hints(conn: Connection, run_id: int) -> list[Hint]:
    """Every hint the run was given, oldest first, with its withdrawal."""
    hints: dict[int, Hint] = {}
    _apply(hints, _hint_events(conn, run_id))
    return list(hints.values())


class HintBoard:
    """The hints a population actor shows: it reads only the events newer than the last it saw."""

    def __init__(self, engine: Engine, run_id: int):
        self.engine, self.run_id = engine, run_id
        self.hints: dict[int, Hint] = {}
        self.last_id = 0

    def refresh(self) -> None:
        with self.engine.connect() as conn:
            rows = _hint_events(conn, self.run_id, self.last_id)
        if rows:
            _apply(self.hints, rows)
            self.last_id = rows[-1].id

    def shown(self, iteration: int, island: int) -> tuple[Hint, ...]:
        return tuple(h for h in self.hints.values() if h.shows(iteration, island))
