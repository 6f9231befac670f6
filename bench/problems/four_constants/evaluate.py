"""Burns BUSY_SECONDS of CPU (a fixed loop), then scores the program's four constants.

Used by bench/vs_openevolve.py for both evolve and OpenEvolve: `evaluate(program_path)` returns
`score` (evolve's key) and `combined_score` (OpenEvolve's), the same number: 100 minus the
squared distance of (A, B, C, D) from a fixed target, at least 0.
"""

import importlib.util
import time

BUSY_SECONDS = 0.5
TARGET = (1.7, -0.6, 2.9, 0.4)


def evaluate(program_path):
    end = time.process_time() + BUSY_SECONDS
    spins = 0
    while time.process_time() < end:
        spins += 1
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    values = [float(v) for v in module.constants()]
    distance = sum((v - t) ** 2 for v, t in zip(values, TARGET))
    score = max(0.0, 100.0 - distance)
    return {"score": score, "combined_score": score}
