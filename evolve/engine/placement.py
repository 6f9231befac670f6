"""Where an evaluation can run: per node, not by cluster totals (two 1-CPU nodes cannot run a
2-CPU evaluation). Pure functions over the nodes' resources, so they are tested without a cluster."""

from __future__ import annotations

import math
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
