"""Package data: problems (see evolve/resources.py)."""
