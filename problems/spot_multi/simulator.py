"""The evaluator's own replay of a multi-region action log: legality, progress, cost, deadline.

Rules (all times in integer seconds):
- The job starts in region 0. Each tick the action is a pair [region, kind] with kind NONE (0),
  SPOT (1) or ON_DEMAND (2); the job is in `region` from then on (moving with NONE is free and
  lets the policy see that region's spot availability on the next tick).
- SPOT is legal only in the region the job was in at the start of the tick (the only one whose
  availability the policy has seen) and only when that region has spot capacity in this tick.
- Starting an instance (a running action whose [region, kind] differs from the previous tick's)
  costs `overhead` seconds with no progress; NONE stops the instance.
- A running tick costs its price for the time used (the completing tick only up to completion).
- The job must have `task` seconds of progress by the deadline (the end of the traces).
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
    moves: int
    slack_seconds: int


def _action(case, t, a, k):
    if not isinstance(a, list) or len(a) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in a):
        raise ReplayError(f"case {case['name']} tick {t}: action {a!r} is not a pair [region, kind] of integers")
    region, kind = a
    if not 0 <= region < k:
        raise ReplayError(f"case {case['name']} tick {t}: region {region} does not exist (there are {k})")
    if kind not in PRICES:
        raise ReplayError(f"case {case['name']} tick {t}: kind {kind} is not 0 (NONE), 1 (SPOT) or 2 (ON_DEMAND)")
    return region, kind


def replay(case: dict, actions) -> Replay:
    avail, tick, task, overhead = case["avail"], case["tick"], case["task"], case["overhead"]
    k, n = len(avail), len(avail[0])
    if not isinstance(actions, list):
        raise ReplayError(f"case {case['name']}: the action log is not a list")
    if len(actions) > n:
        raise ReplayError(f"case {case['name']}: {len(actions)} actions for a trace of {n} ticks")
    done = overhead_left = 0
    here, last = 0, (0, NONE)
    cost = 0.0
    used_by = {SPOT: 0, ON_DEMAND: 0}
    restarts = moves = 0
    for t in range(n):
        if done >= task:
            break
        region, kind = _action(case, t, actions[t], k) if t < len(actions) else (here, NONE)
        if kind == SPOT:
            if region != here:
                raise ReplayError(
                    f"case {case['name']} tick {t}: SPOT requested in region {region} while the job is in "
                    f"region {here} (move there first; only the current region's availability is known)"
                )
            if avail[region][t] != "1":
                raise ReplayError(
                    f"case {case['name']} tick {t}: SPOT chosen in region {region} while spot is unavailable there"
                )
        if region != here:
            moves += 1
        if kind == NONE:
            overhead_left = 0
        else:
            if (region, kind) != last:
                overhead_left = overhead
                restarts += 1
            used = min(tick, overhead_left + (task - done))
            done += max(0, used - overhead_left)
            overhead_left = max(0, overhead_left - used)
            cost += PRICES[kind] * used / 3600.0
            used_by[kind] += used
        here, last = region, (region, kind)
    else:
        t = n
    if len(actions) > t:
        raise ReplayError(f"case {case['name']}: {len(actions)} actions but the job was over after {t} ticks")
    if done < task:
        raise ReplayError(
            f"case {case['name']}: deadline missed ({done / 3600:.2f} h of {task / 3600:.0f} h done "
            f"by the {case['deadline'] / 3600:.0f} h deadline)"
        )
    return Replay(
        cost=cost,
        finish_tick=t,
        spot_seconds=used_by[SPOT],
        on_demand_seconds=used_by[ON_DEMAND],
        restarts=restarts,
        moves=moves,
        slack_seconds=case["deadline"] - t * tick,
    )


def case_score(case: dict, cost: float) -> float:
    """0 = as expensive as running the whole job on demand, 100 = as cheap as all-spot."""
    hours = case["task"] / 3600.0
    worst, best = hours * PRICE_ON_DEMAND, hours * PRICE_SPOT
    return 100.0 * (worst - cost) / (worst - best)
