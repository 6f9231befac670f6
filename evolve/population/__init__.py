"""The population: islands of MAP-Elites archives over fixed feature bins."""

from evolve.population.features import Axis, axes_for, cell_of, feature_values, novelty
from evolve.population.islands import Island, Member, Population, SelectionPolicy

__all__ = [
    "Axis",
    "Island",
    "Member",
    "Population",
    "SelectionPolicy",
    "axes_for",
    "cell_of",
    "feature_values",
    "novelty",
]
