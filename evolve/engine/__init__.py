"""The run engine: Ray actors and tasks, the steady-state loop, budgets, resume."""
