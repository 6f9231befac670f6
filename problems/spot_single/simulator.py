"""The evaluator's own replay of an action log: legality, progress, cost, deadline.

Rules (all times in integer seconds):
- Each tick lasts `tick` seconds; the action chosen for tick t is NONE (0), SPOT (1) or
  ON_DEMAND (2). SPOT is legal only when the trace says spot is available in tick t.
- Starting an instance (any running action that differs from the previous tick's action)
  costs `overhead` seconds of restart time before progress resumes; NONE stops the instance.
- A running tick costs its price for the time used (the tick where the job completes is billed
  only up to completion); NONE costs nothing.
- The job must have `task` seconds of progress by the deadline (the end of the trace).
"""

from __future__ import annotations

from dataclasses import dataclass

from traces import PRICE_ON_DEMAND, PRICE_SPOT

NONE, SPOT, ON_DEMAND = 0, 1, 2
PRICES = {NONE: 0.0, SPOT: PRICE_SPOT, ON_DEMAND: PRICE_ON_DEMAND}


class ReplayError(ValueError):
    pass


@dataclass
class Replay:
    cost: float
    finish_tick: int
    spot_seconds: int
    on_demand_seconds: int
    restarts: int
    slack_seconds: int  # time left before the deadline when the job completed


def replay(case: dict, actions) -> Replay:
    avail, tick, task = case["avail"], case["tick"], case["task"]
    overhead = case["overhead"]
    n = len(avail)
    if not isinstance(actions, list):
        raise ReplayError(f"case {case['name']}: the action log is not a list")
    if len(actions) > n:
        raise ReplayError(f"case {case['name']}: {len(actions)} actions for a trace of {n} ticks")
    done = overhead_left = 0
    last = NONE
    cost = 0.0
    used_by = {SPOT: 0, ON_DEMAND: 0}
    restarts = 0
    for t in range(n):
        if done >= task:
            break
        a = actions[t] if t < len(actions) else NONE
        if isinstance(a, bool) or not isinstance(a, int) or a not in PRICES:
            raise ReplayError(f"case {case['name']} tick {t}: action {a!r} is not 0 (NONE), 1 (SPOT) or 2 (ON_DEMAND)")
        if a == SPOT and avail[t] != "1":
            raise ReplayError(f"case {case['name']} tick {t}: SPOT chosen while spot is unavailable")
        if a == NONE:
            overhead_left = 0
        else:
            if a != last:
                overhead_left = overhead
                restarts += 1
            used = min(tick, overhead_left + (task - done))
            done += max(0, used - overhead_left)
            overhead_left = max(0, overhead_left - used)
            cost += PRICES[a] * used / 3600.0
            used_by[a] += used
        last = a
    else:
        t = n
    if len(actions) > t:
        raise ReplayError(f"case {case['name']}: {len(actions)} actions but the job was over after {t} ticks")
    if done < task:
        raise ReplayError(
            f"case {case['name']}: deadline missed ({done / 3600:.2f} h of {task / 3600:.0f} h done "
            f"by the {case['deadline'] / 3600:.0f} h deadline)"
        )
    finish = t
    # time of completion: the last running tick may have ended early
    return Replay(
        cost=cost,
        finish_tick=finish,
        spot_seconds=used_by[SPOT],
        on_demand_seconds=used_by[ON_DEMAND],
        restarts=restarts,
        slack_seconds=case["deadline"] - finish * tick,
    )


def case_score(case: dict, cost: float) -> float:
    """0 = as expensive as running the whole job on demand, 100 = as cheap as all-spot."""
    hours = case["task"] / 3600.0
    worst, best = hours * PRICE_ON_DEMAND, hours * PRICE_SPOT
    return 100.0 * (worst - cost) / (worst - best)
