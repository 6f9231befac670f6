"""MAP-Elites feature values and cells. Bins are fixed up front, so a cell means the same thing
for the whole run (a running min/max would make cells drift)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Axis:
    name: str
    min: float
    max: float
    bins: int

    def bin(self, value: float) -> int:
        if value != value:  # NaN
            return 0
        fraction = min(1.0, max(0.0, (value - self.min) / (self.max - self.min)))  # also clamps +-inf
        return min(self.bins - 1, int(fraction * self.bins))


def axes_for(features, initial_code: str) -> tuple[Axis, ...]:
    """Resolve a problem's feature dimensions; an open code_length range gets 4x the initial size."""
    axes = []
    for f in features:
        top = f.max
        if top is None:
            top = 4.0 * len(initial_code) if f.name == "code_length" else f.min + 1.0
        axes.append(Axis(f.name, float(f.min), float(top), int(f.bins)))
    return tuple(axes)


def novelty(initial_code: str, code: str) -> float:
    """Share of lines that differ from the initial program, in [0, 1]."""
    matcher = difflib.SequenceMatcher(None, initial_code.splitlines(), code.splitlines(), autojunk=False)
    return 1.0 - matcher.ratio()


def feature_values(
    axes: tuple[Axis, ...], code: str, metrics: dict[str, float], initial_code: str
) -> tuple[float, ...]:
    values = []
    for axis in axes:
        if axis.name == "code_length":
            values.append(float(len(code)))
        elif axis.name == "novelty":
            values.append(novelty(initial_code, code))
        else:
            values.append(float(metrics.get(axis.name, axis.min)))
    return tuple(values)


def cell_of(axes: tuple[Axis, ...], values: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(axis.bin(v) for axis, v in zip(axes, values))
