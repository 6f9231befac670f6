"""Deadline-aware spot scheduling in one region ("Can't Be Late", NSDI'24).

A job needs `task` seconds of work before `deadline`. Every 10-minute tick the policy picks
NONE (0, pay nothing, no progress), SPOT (1, cheap, only when spot capacity is available now)
or ON_DEMAND (2, always available, ~3x the price). Starting an instance (any change to a running
choice, including after a preemption or a pause) costs `overhead` seconds with no progress.
Missing the deadline makes the whole policy invalid. Cheaper is better.

Evolve `Policy`. The harness below (`run_policy`) is fixed: it shows the policy one tick at a
time and records its choices; the evaluator replays those choices against its own copy of the
traces and computes progress, cost and the deadline itself.
"""

import random

NONE, SPOT, ON_DEMAND = 0, 1, 2


# EVOLVE-BLOCK-START
class Policy:
    """Greedy: use spot whenever it is available, otherwise wait, until waiting any longer could
    miss the deadline; from then on run on demand."""

    def __init__(self, job):
        # job: task, deadline, overhead, tick (all seconds), price_spot, price_on_demand ($/h)
        self.job = job

    def step(self, obs):
        """obs: tick_index, elapsed, has_spot, last_action, work_done, overhead_left, and the
        job's task, deadline, overhead, tick. Return NONE, SPOT or ON_DEMAND."""
        remaining = obs.task - obs.work_done
        time_left = obs.deadline - obs.elapsed
        # Worst case: this tick makes no progress and on-demand must start from scratch next tick.
        if time_left - obs.tick < remaining + obs.overhead:
            return ON_DEMAND
        if obs.has_spot:
            return SPOT
        return NONE


# EVOLVE-BLOCK-END


class Observation:
    __slots__ = (
        "deadline",
        "elapsed",
        "has_spot",
        "last_action",
        "overhead",
        "overhead_left",
        "task",
        "tick",
        "tick_index",
        "work_done",
    )


def run_policy(cases):
    """Run a fresh Policy over each case, one tick at a time; return each case's action log."""
    logs = []
    for case in cases:
        random.seed(0)
        try:
            import numpy as np

            np.random.seed(0)
        except ImportError:
            pass
        job = {key: case[key] for key in ("task", "deadline", "overhead", "tick")}
        job["price_spot"], job["price_on_demand"] = case["price_spot"], case["price_on_demand"]
        policy = Policy(dict(job))
        avail, tick, task, overhead = case["avail"], case["tick"], case["task"], case["overhead"]
        done = overhead_left = 0
        last = NONE
        actions = []
        for t in range(len(avail)):
            if done >= task:
                break
            obs = Observation()
            obs.tick_index, obs.elapsed, obs.has_spot = t, t * tick, avail[t] == "1"
            obs.last_action, obs.work_done, obs.overhead_left = last, done, overhead_left
            obs.task, obs.deadline, obs.overhead, obs.tick = task, case["deadline"], overhead, tick
            a = int(policy.step(obs))
            if a not in (NONE, SPOT, ON_DEMAND):
                raise ValueError(f"Policy.step returned {a}, not NONE, SPOT or ON_DEMAND")
            actions.append(a)
            if a == NONE:
                overhead_left = 0
            else:
                if a != last:
                    overhead_left = overhead
                used = min(tick, overhead_left + (task - done))
                done += max(0, used - overhead_left)
                overhead_left = max(0, overhead_left - used)
            last = a
        logs.append(actions)
    return logs
