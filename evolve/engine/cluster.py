"""The Ray cluster as the run sees it: where an evaluation can run (per node, not by cluster
totals: two 1-CPU nodes cannot run a 2-CPU evaluation; pure functions over the nodes' resources,
tested without a cluster), which nodes evaluations go to (a node that keeps failing while others
work is avoided for a while, 15 s doubling, instead of pausing the whole run), and what a Ray
failure around an evaluation means (the cluster's fault, or the candidate's)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence

Resources = Mapping[str, float]


def evaluation_needs(cpus: float, gpus: float, custom: Mapping[str, float]) -> dict[str, float]:
    needs = {"CPU": cpus, "GPU": gpus, **custom}
    return {name: amount for name, amount in needs.items() if amount}


def slots_on(node: Resources, needs: Resources) -> int:
    """How many evaluations with `needs` this node runs at once."""
    if not needs:
        return 0
    return min(math.floor(node.get(name, 0.0) / amount + 1e-9) for name, amount in needs.items())


def evaluation_slots(nodes: Sequence[Resources], needs: Resources) -> int:
    """How many evaluations the whole cluster runs at once: the default for --eval-workers."""
    return sum(slots_on(node, needs) for node in nodes)


def shortfall(node: Resources, needs: Resources) -> dict[str, float]:
    """What this node lacks for one evaluation (empty: it fits)."""
    return {name: amount - node.get(name, 0.0) for name, amount in needs.items() if node.get(name, 0.0) < amount}


def closest_node(nodes: Sequence[Resources], needs: Resources) -> Resources | None:
    """The node that comes nearest to fitting (the smallest relative shortfall), for the message."""
    if not nodes:
        return None
    return min(nodes, key=lambda node: sum(gap / needs[name] for name, gap in shortfall(node, needs).items()))


def describe(node: Resources, names: Sequence[str]) -> str:
    return ", ".join(f"{node.get(name, 0.0):g} {name}" for name in names)


def alive_nodes() -> list[dict[str, float]]:
    """The resources of each alive node of the Ray cluster this process is connected to."""
    import ray

    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def unplaceable(needs: Resources) -> str | None:
    """Why no alive node can run one evaluation now, or None when some node can."""
    nodes = alive_nodes()
    if any(slots_on(node, needs) for node in nodes):
        return None
    asked = ", ".join(f"{amount:g} {name}" for name, amount in needs.items())
    closest = closest_node(nodes, needs)
    has = f"the closest has {describe(closest, list(needs))}" if closest is not None else "no node is alive"
    return f"no alive node has what one needs ({asked}); {has}"


# ---- which nodes evaluations go to ---------------------------------------------------

HEALTHY_SECONDS = 120.0  # a node that evaluated a candidate this recently counts as working
FIRST_AVOIDANCE = 15.0  # a node that fails while others work is avoided this long, doubling each time
LONGEST_AVOIDANCE = 300.0


class NodeHealth:
    """Which nodes evaluations go to: the working ones first while a failing one is avoided."""

    def __init__(self) -> None:
        self.worked: dict[str, float] = {}  # node -> when it last evaluated a candidate
        self.avoided: dict[str, tuple[float, int]] = {}  # node -> (avoided until, its faults in a row)
        self.turn = 0  # round robin over the working nodes while some node is avoided

    def evaluated_on(self, node: str) -> None:
        """A candidate was evaluated there (well or not): the node works."""
        self.worked[node] = time.monotonic()
        self.avoided.pop(node, None)

    def avoid(self, node: str) -> float | None:
        """The machinery failed on `node`: seconds it is now avoided, or None when no other node
        works (then the fault is the run's, not one node's)."""
        now = time.monotonic()
        if not any(n != node and now - t < HEALTHY_SECONDS for n, t in self.worked.items()):
            return None
        faults = self.avoided.get(node, (0.0, 0))[1] + 1
        seconds = min(LONGEST_AVOIDANCE, FIRST_AVOIDANCE * 2 ** (faults - 1))
        self.avoided[node] = (now + seconds, faults)
        return seconds

    def preferred(self) -> str | None:
        """While some node is avoided, the working node the next evaluation asks for (in turn)."""
        now = time.monotonic()
        avoided = {n for n, (until, _) in self.avoided.items() if until > now}
        working = sorted(n for n, t in self.worked.items() if n not in avoided and now - t < HEALTHY_SECONDS)
        if not (avoided and working):
            return None
        self.turn += 1
        return working[self.turn % len(working)]


# ---- what a Ray failure means ---------------------------------------------------------


def worker_lost(exc: Exception) -> bool:
    """A Ray failure that is the cluster's (a node or its raylet gone), not the candidate's.

    Ray 2.60 reports a node lost under a running task (its raylet killed, the machine gone) as
    NodeDiedError, whether or not its worker process died first; a worker that dies while its
    node lives is WorkerCrashedError, which stays the candidate's (an OOM kill, a crash)."""
    import ray

    return isinstance(
        exc,
        (
            ray.exceptions.NodeDiedError,
            ray.exceptions.LocalRayletDiedError,
            ray.exceptions.ActorUnavailableError,
            ray.exceptions.ObjectLostError,
        ),
    )


def node_cannot_evaluate(exc: Exception) -> bool:
    """A node that cannot run the evaluation task at all: it fails around the task, not in it
    (the task catches what the candidate does). Its evolve lacks a module ("System error: No
    module named ..."), a value does not unpickle there, its disk is full, its runtime_env fails."""
    import ray

    return isinstance(
        exc,
        (
            ray.exceptions.RaySystemError,
            ray.exceptions.RayTaskError,
            ray.exceptions.RuntimeEnvSetupError,
            ray.exceptions.OutOfDiskError,
        ),
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_line(exc: BaseException) -> str:
    """The plain-text gist of an error for a stored reason: no colour codes, no Ray task names."""
    text = _ANSI.sub("", str(getattr(exc, "cause", None) or exc)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("ray::")]
    return (lines or [type(exc).__name__])[0][:300]
