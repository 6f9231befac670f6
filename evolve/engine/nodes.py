"""Which nodes evaluations go to: a node that keeps failing while others work is avoided for a
while (15 s, doubling while it keeps failing) instead of pausing the whole run."""

from __future__ import annotations

import time

HEALTHY_SECONDS = 120.0  # a node that evaluated a candidate this recently counts as working
FIRST_AVOIDANCE = 15.0  # a node that fails while others work is avoided this long, doubling each time
LONGEST_AVOIDANCE = 300.0


class NodeHealth:
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
