"""Burns BUSY_SECONDS of CPU (a fixed loop), then scores the program's constant."""

import re
import time

BUSY_SECONDS = 0.5


def evaluate(program_path):
    end = time.process_time() + BUSY_SECONDS
    x = 0
    while time.process_time() < end:
        x += 1
    with open(program_path) as f:
        numbers = [float(n) for n in re.findall(r"\d+\.\d+", f.read())]
    return {"score": min(100.0, abs(sum(numbers))), "spins": float(x)}
