"""Resting a model whose calls keep failing, while the other models take its share.

After `after` failed calls in a row (failed after their HTTP retries: a provider outage, a quota, a
wrong name), a model rests for `first_rest` iterations; then it gets one call again, and if that one
fails too it rests twice as long, and so on. One answered call ends the streak and the doubling.
When every model rests, the one whose rest ends first is used anyway: a run is never stalled here
(the driver stops a run whose calls all keep failing).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelRest:
    after: int = 3
    first_rest: int = 8
    streak: dict[str, int] = field(default_factory=dict)  # failed calls in a row
    rests: dict[str, int] = field(default_factory=dict)  # rests in a row (each doubles)
    until: dict[str, int] = field(default_factory=dict)  # rested while the iteration is below this
    sent_before: dict[str, int] = field(default_factory=dict)  # calls up to this iteration predate the rest

    def record(self, model: str, failed: bool, iteration: int, now: int) -> bool:
        """A call of `model` made at `iteration` ended, `now` the latest iteration handed out;
        returns True when it puts the model to rest."""
        if not failed:  # the model answers: no rest, no doubling
            self.streak[model] = self.rests[model] = self.until[model] = 0
            return False
        if iteration <= self.sent_before.get(model, 0):
            return False  # sent before the rest began: the same outage, already counted
        self.streak[model] = self.streak.get(model, 0) + 1
        if self.streak[model] < self.after and not self.rests.get(model):
            return False
        # Rested before and failed again at its first call back: straight back to rest, longer.
        self.streak[model] = 0
        length = self.first_rest * 2 ** self.rests.get(model, 0)
        self.rests[model] = self.rests.get(model, 0) + 1
        self.until[model] = now + 1 + length
        self.sent_before[model] = now
        return True

    def resting(self, model: str, iteration: int) -> bool:
        return iteration < self.until.get(model, 0)

    def available(self, models: list[str], iteration: int) -> list[str]:
        awake = [m for m in models if not self.resting(m, iteration)]
        if awake or not models:
            return awake
        return [min(models, key=lambda m: self.until.get(m, 0))]
