"""What an evaluation task carries: a light module, so an evaluation worker that unpickles a
ticket does not import the population (the store, the search, their libraries)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalTicket:
    program_id: int
    code: str
    iteration: int
    island: int
