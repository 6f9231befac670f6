"""Waits for a time drawn from a heavy-tailed distribution, then scores the program's constant.

The time is decided by the candidate's number (its `# candidate N` comment, written by the
benchmark's model), so two runs given the same answers wait the same times whatever order their
candidates come in: most 0.2 s, one in ten 5-10 s. It sleeps rather than burns CPU, so the
figure measures how the engine schedules evaluations, not how the machine's cores are shared.
"""

import random
import re
import time

FAST_SECONDS = 0.2
SLOW_SHARE = 0.1
SLOW_SECONDS = (5.0, 10.0)


def seconds_for(candidate: int) -> float:
    rng = random.Random(candidate)
    return rng.uniform(*SLOW_SECONDS) if rng.random() < SLOW_SHARE else FAST_SECONDS


def evaluate(program_path):
    with open(program_path) as f:
        code = f.read()
    candidate = int(re.search(r"# candidate (\d+)", code).group(1))
    wait = seconds_for(candidate)
    time.sleep(wait)
    value = float(re.search(r"return (\d+\.\d+)", code).group(1))
    return {"score": value, "waited": wait, "candidate": float(candidate)}
