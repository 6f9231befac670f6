"""Deadline-aware spot scheduling across several regions (ADRS, after "Can't Be Late", NSDI'24).

A job needs `task` seconds of work before `deadline`. Every 10-minute tick the policy returns a
pair (region, kind): kind NONE (0, pay nothing), SPOT (1, cheap, only in the region the job is in
and only when that region has spot capacity now) or ON_DEMAND (2, always available, ~3x the
price). The job moves to `region` (a move with NONE is free; next tick the policy sees spot
availability there). Starting an instance (any change of region or kind while running, a restart
after a preemption or a pause) costs `overhead` seconds with no progress. Missing the deadline
makes the whole policy invalid. Cheaper is better.

Evolve `Policy`. The harness below (`run_policy`) is fixed: it shows the policy the current
region's availability one tick at a time and records its choices; the evaluator replays them
against its own copy of the traces and computes progress, cost and the deadline itself.
"""

import random

NONE, SPOT, ON_DEMAND = 0, 1, 2


# EVOLVE-BLOCK-START
class Policy:
    """Round-robin greedy: run spot where the job is whenever it is available; when it is not,
    move to the next region (free, one tick to look); once waiting could miss the deadline, run
    on demand where the job is until the end."""

    def __init__(self, job):
        # job: task, deadline, overhead, tick (all seconds), n_regions, price_spot, price_on_demand
        self.job = job

    def step(self, obs):
        """obs: tick_index, elapsed, region, n_regions, has_spot (in obs.region, this tick),
        last_action (region, kind), work_done, overhead_left, task, deadline, overhead, tick.
        Return (region, kind)."""
        remaining = obs.task - obs.work_done
        time_left = obs.deadline - obs.elapsed
        if time_left - obs.tick < remaining + obs.overhead:
            return obs.region, ON_DEMAND
        if obs.has_spot:
            return obs.region, SPOT
        return (obs.region + 1) % obs.n_regions, NONE


# EVOLVE-BLOCK-END


class Observation:
    __slots__ = (
        "deadline",
        "elapsed",
        "has_spot",
        "last_action",
        "n_regions",
        "overhead",
        "overhead_left",
        "region",
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
        avail, tick, task, overhead = case["avail"], case["tick"], case["task"], case["overhead"]
        k = len(avail)
        job = {key: case[key] for key in ("task", "deadline", "overhead", "tick")}
        job.update(n_regions=k, price_spot=case["price_spot"], price_on_demand=case["price_on_demand"])
        policy = Policy(job)
        done = overhead_left = 0
        here, last = 0, (0, NONE)
        actions = []
        for t in range(len(avail[0])):
            if done >= task:
                break
            obs = Observation()
            obs.tick_index, obs.elapsed, obs.region, obs.n_regions = t, t * tick, here, k
            obs.has_spot = avail[here][t] == "1"
            obs.last_action, obs.work_done, obs.overhead_left = last, done, overhead_left
            obs.task, obs.deadline, obs.overhead, obs.tick = task, case["deadline"], overhead, tick
            region, kind = policy.step(obs)
            region, kind = int(region), int(kind)
            if not 0 <= region < k or kind not in (NONE, SPOT, ON_DEMAND):
                raise ValueError(f"Policy.step returned ({region}, {kind}): not a region and a kind")
            actions.append([region, kind])
            if kind == NONE:
                overhead_left = 0
            else:
                if (region, kind) != last:
                    overhead_left = overhead
                used = min(tick, overhead_left + (task - done))
                done += max(0, used - overhead_left)
                overhead_left = max(0, overhead_left - used)
            here, last = region, (region, kind)
        logs.append(actions)
    return logs
