"""Package data: evolve/templates (see evolve/resources.py)."""
