"""evolve's stand-in for the `openevolve` package inside the sandbox: only what evaluators import
(openevolve.evaluation_result). Written by evolve from OpenEvolve's documented contract."""
