"""What a prompt remembers, as the population actor assembles it for a task: the parent's lineage
and cell, the run's best programs, elites of other cells of the island, what was tried from this
parent or island, the latest insight (docs/prompts.md)."""

from __future__ import annotations

import random

from evolve.engine.program_views import ProgramViews
from evolve.mutate.memory import CellAxis, Coordinates, Memory
from evolve.population import Member, Population
from evolve.problem import PromptConfig
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
