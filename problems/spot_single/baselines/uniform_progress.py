"""Baseline: Uniform Progress. Deadline-aware spot scheduling in one region ("Can't Be Late", NSDI'24).

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
    """Uniform Progress (Wu et al., "Can't Be Late", NSDI'24): keep progress on or above the
    straight line from 0 at the start to the whole task at the deadline. Use spot whenever it is
    available; when it is not, run on demand while behind the line (and, once on demand, until a
    margin ahead of it, so as not to pay a restart every other tick), otherwise wait. The same
    safety net as greedy switches to on demand for good once waiting could miss the deadline."""

    def __init__(self, job):
        self.job = job

    def step(self, obs):
        remaining = obs.task - obs.work_done
        time_left = obs.deadline - obs.elapsed
        if time_left - obs.tick < remaining + obs.overhead:
            return ON_DEMAND
        # progress the uniform schedule expects by the end of this tick
        expected = obs.task * (obs.elapsed + obs.tick) / obs.deadline
        behind = obs.work_done < expected
        if obs.has_spot:
            # while behind and already on demand, stay there rather than pay a restart
            if behind and obs.last_action == ON_DEMAND:
                return ON_DEMAND
            return SPOT
        if obs.last_action == ON_DEMAND:
            # hysteresis: once on demand, keep going until clearly ahead of the line
            return ON_DEMAND if obs.work_done < expected + self.margin(obs) else NONE
        return ON_DEMAND if behind else NONE

    def margin(self, obs):
        return max(2 * obs.overhead, obs.tick)


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
