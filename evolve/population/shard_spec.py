"""Which islands a population shard owns: island i belongs to shard i % count.

Round-robin ownership keeps ring migration (island i -> i + 1) always crossing to the next shard,
and spreads iterations (island = iteration % islands) evenly over shards when the island count
is a multiple of the shard count.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShardSpec:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    @property
    def home(self) -> bool:
        """The shard that opens the run and writes its run-level rows (start, insights, end)."""
        return self.index == 0

    def owns(self, island: int) -> bool:
        return island % self.count == self.index

    def islands(self, total: int) -> tuple[int, ...]:
        return tuple(i for i in range(total) if self.owns(i))


def owner(island: int, count: int) -> int:
    return island % count


UNSHARDED = ShardSpec()  # one shard owning every island: the population as it always was
