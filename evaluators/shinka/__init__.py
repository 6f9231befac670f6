"""evolve's stand-in for the `shinka` package inside the sandbox: only shinka.core.run_shinka_eval,
written by evolve from ShinkaEvolve's documented contract."""
