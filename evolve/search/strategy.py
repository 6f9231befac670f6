"""The search strategy of a run (`evolve run --strategy`): evolution, or an honest baseline.

The critiques of the field (random sampling with a good evaluator often matches elaborate search)
are answered by measuring, on the same problem, the same budget and the same store:

- `evolve`: islands, MAP-Elites, bandits, novelty rejection, crossover, repair, resets.
- `random`: the offline mutator (random perturbations of constants and operators), no model.
- `best-of-n`: N independent children of the initial program, with the same models, prompts and
  budget, but no population: no parent but the initial program, no inspirations, no feedback from
  earlier children, no adaptive choice.
"""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    EVOLVE = "evolve"
    RANDOM = "random"
    BEST_OF_N = "best-of-n"

    @property
    def uses_models(self) -> bool:
        return self is not Strategy.RANDOM

    @property
    def uses_population(self) -> bool:
        """Parents from the archive, inspirations, feedback, crossover, repair, resets, novelty."""
        return self is Strategy.EVOLVE
