"""Search that adapts: bandits over models and mutation kinds, novelty rejection, repair, resets,
and the baseline strategies (docs/search.md). Pure logic, seeded with an explicit random.Random."""
