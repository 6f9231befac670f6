"""The Python API: `evolve.run`, `evolve.Problem`, `evolve.Result` (docs in README, "Python API")."""
