"""What a prompt remembers, as the population actor assembles it for a task: the parent's lineage
and cell, the run's best programs, elites of other cells of the island, what was tried from this
parent or island, the latest insight, a person's hints (docs/prompts.md, docs/steering.md)."""

from __future__ import annotations

import random
from dataclasses import replace

from sqlalchemy.engine import Engine

from evolve.engine.program_views import ProgramViews
from evolve.mutate.memory import CellAxis, Coordinates, HintNote, Memory
from evolve.population import Member, Population
from evolve.problem import PromptConfig
from evolve.store.hints import HintBoard
from evolve.store.history import RunHistory


def prompt_memory(
    settings: PromptConfig,
    population: Population,
    history: RunHistory,
    views: ProgramViews,
    cell_axes: tuple[CellAxis, ...],
    island: int,
    parent: Member,
    rng: random.Random,
) -> Memory:
    ranked = sorted({entry for isl in population.islands for entry in isl.ranked[: settings.top + 1]})
    top = [mid for _, mid in ranked if mid != parent.id][: settings.top]
    isl, diverse = population.islands[island], list[int]()
    keys = isl.cell_keys
    for i in rng.sample(range(len(keys)), min(len(keys), 3 * settings.diverse)):
        elite = isl.cells[keys[i]]
        if len(diverse) < settings.diverse and elite.cell != parent.cell and elite.id not in (parent.id, *top):
            diverse.append(elite.id)
    shown = views.get([*top, *diverse])
    return Memory(
        lineage=history.lineage(parent.id, settings.lineage),
        top=tuple(shown[i] for i in top),
        diverse=tuple(shown[i] for i in diverse),
        tried=history.tried(island, parent.id, settings.tried),
        coordinates=Coordinates(cell_axes, parent.cell),
        insight=history.latest_insight,
    )


class PromptHints:
    """The hints an actor's prompts show, read fresh from the store at each task (another process,
    `evolve hint` or the live page, writes them while the run goes on), and which hints each
    iteration in flight showed, so its child's row can say so."""

    def __init__(self, engine: Engine, run_id: int):
        self.board = HintBoard(engine, run_id)
        self.shown: dict[int, tuple[int, ...]] = {}

    def add_to(self, memory: Memory, iteration: int, island: int) -> Memory:
        self.board.refresh()
        shown = self.board.shown(iteration, island)
        if not shown:
            return memory
        self.shown[iteration] = tuple(h.id for h in shown)
        return replace(memory, hints=tuple(HintNote(h.id, h.text, h.iteration) for h in shown))

    def taken(self, iteration: int) -> tuple[int, ...]:
        """The hints iteration `iteration`'s prompt showed, forgotten here (its proposal is back)."""
        return self.shown.pop(iteration, ())
