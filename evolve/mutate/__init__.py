"""Mutators: prompt rendering and the model conversation; an answer becomes a child in evolve/edit/."""
