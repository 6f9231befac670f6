"""Package data: evaluators (see evolve/resources.py)."""
