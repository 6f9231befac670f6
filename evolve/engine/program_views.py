"""Programs as prompts show them, cached in the population actor: a task's parent, inspirations
and memory come from the few best programs again and again, and a stored program never changes
what a prompt shows of it once evaluated (the cache holds only what a prompt asked for)."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy.engine import Engine

from evolve.mutate.views import ProgramView
from evolve.store.population_reads import read_views

CODE_CACHE = 256  # programs kept: the hot few of every island, with room to spare


class ProgramViews:
    """An LRU cache of `ProgramView`s over the store."""

    def __init__(self, engine: Engine, size: int = CODE_CACHE):
        self.engine = engine
        self.size = size
        self.cache: OrderedDict[int, ProgramView] = OrderedDict()

    def get(self, ids: list[int]) -> dict[int, ProgramView]:
        missing = [i for i in ids if i not in self.cache]
        if missing:
            for view in read_views(self.engine, missing):
                self.cache[view.id] = view
        out = {}
        for i in ids:
            self.cache.move_to_end(i)
            out[i] = self.cache[i]
        while len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return out

    def one(self, program_id: int) -> ProgramView:
        return self.get([program_id])[program_id]
