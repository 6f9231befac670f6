"""Package data: prompts (see evolve/resources.py)."""
