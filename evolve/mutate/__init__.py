"""Mutators: prompt rendering, model calls, and turning answers into children."""
