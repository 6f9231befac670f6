"""The machinery's faults during a run (the Docker engine gone, an image missing, a node lost).

Such a fault is not the candidate's: its ticket goes back to the queue, the run pauses (no new
model calls, which cost money) and retries with a growing delay; if the machinery is still broken
after `infra_wait` seconds, the run stops as failed with the cause. One node that fails while
others work is avoided for a while instead (evolve/engine/cluster.py's NodeHealth).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from evolve.engine.cluster import NodeHealth, first_line, node_cannot_evaluate, worker_lost
from evolve.errors import InfrastructureError, NodeLost
from evolve.kinds import FailureKind, StopKind
from evolve.sandbox.base import EvalOutcome
from evolve.stop_reason import StopReason
from evolve.store.events import NodeAvoidedPayload, PausePayload, RecoveredPayload

log = logging.getLogger(__name__)

INFRA_BROKEN = "the machinery keeps failing"
MAX_RETRY_DELAY = 30.0
PLACEMENT_STALL_SECONDS = 10.0  # evaluations in flight and none ended this long: ask whether any node can run one


@dataclass
class Outage:
    """A run of infrastructure faults with no success in between."""

    since: float
    faults: int
    cause: str
    retry_at: float


class Machinery:
    """The run's view of its machinery: the outage under way (if any), the nodes' health, and
    what a finished evaluation's failure means. `tell` shows one line as the run's last event."""

    def __init__(self, db, infra_wait: float, needs: dict[str, float], sandbox, tell: Callable[[str], None]):
        self.db, self.infra_wait, self.sandbox, self.tell = db, infra_wait, sandbox, tell
        self.needs = needs  # what one evaluation asks of a node (CPU, GPU, custom resources)
        self.outage: Outage | None = None
        self.nodes = NodeHealth()
        self.last_evaluation_end = time.monotonic()

    def fault(self, exc: BaseException) -> None:
        now = time.monotonic()
        cause = first_line(exc)
        if self.outage is None:
            self.outage = Outage(since=now, faults=0, cause=cause, retry_at=now)
            log.warning("infrastructure fault, pausing the run: %s", cause)
            self.db.add_event(PausePayload(cause), f"paused: {cause}")
        self.outage.faults += 1
        self.outage.cause = cause
        self.outage.retry_at = now + min(MAX_RETRY_DELAY, 2.0 ** (self.outage.faults - 1))
        self.tell(f"paused (machinery fault, retrying): {cause[:100]}")

    def recovered(self) -> None:
        if self.outage is not None:
            seconds = time.monotonic() - self.outage.since
            log.warning("infrastructure recovered after %.0f s", seconds)
            self.db.add_event(RecoveredPayload(seconds), "the machinery answers again: run resumed")
            self.outage = None

    def paused(self) -> bool:
        return self.outage is not None and time.monotonic() < self.outage.retry_at

    def gave_up(self) -> StopReason | None:
        """The run's stop when the outage has lasted past `infra_wait`."""
        o = self.outage
        if o is not None and time.monotonic() - o.since >= self.infra_wait:
            seconds = time.monotonic() - o.since
            return StopReason(
                StopKind.INFRA_BROKEN, f"{INFRA_BROKEN} ({o.faults} tries over {seconds:.0f} s): {o.cause}"
            )
        return None

    def check_placement(self, in_flight: int) -> None:
        """Evaluations in flight, none ending for a while: when no alive node can run one (the only
        node with the GPU, or the custom resource, is gone), that is a fault of the machinery: the
        run says so, pauses its model calls, and stops after `infra_wait` if no such node returns."""
        now = time.monotonic()
        if not in_flight or not self.needs or now - self.last_evaluation_end < PLACEMENT_STALL_SECONDS:
            return
        self.last_evaluation_end = now  # asked again only after another quiet spell
        from evolve.engine.cluster import unplaceable

        why = unplaceable(self.needs)
        if why is not None:
            self.fault(InfrastructureError(f"cannot place evaluations: {why}"))

    def avoid_node(self, exc: BaseException) -> bool:
        """One node's machinery failed (its engine, its disk, its copy of the problem) while other
        nodes work: its next evaluations go to those nodes for a while, and the run does not pause.
        False when the fault names no node, or no other node works (then the run pauses)."""
        node = getattr(getattr(exc, "cause", None) or exc, "node", None)
        seconds = self.nodes.avoid(node) if node else None
        if node is None or seconds is None:
            return False
        cause = first_line(exc)
        log.warning("node %s cannot evaluate, sending evaluations elsewhere for %.0f s: %s", node[:12], seconds, cause)
        self.db.add_event(
            NodeAvoidedPayload(node, seconds, self.nodes.avoided[node][1]),
            f"node {node[:12]} avoided for {seconds:.0f} s: {cause}",
        )
        self.tell(f"node {node[:12]} avoided: {cause[:100]}")
        return True

    def finished(self, done: Future) -> EvalOutcome | None:
        """The outcome of a finished evaluation; None when the machinery failed (retry it)."""
        import ray

        try:
            outcome = done.result()
        except InfrastructureError as exc:
            if not self.avoid_node(exc):
                self.fault(exc)
            return None
        except ray.exceptions.RayError as exc:
            if worker_lost(exc):
                self.fault(NodeLost(f"the node running an evaluation was lost: {first_line(exc)}"))
                return None
            if node_cannot_evaluate(exc):
                self.fault(InfrastructureError(f"a node cannot run evaluations: {first_line(exc)}"))
                return None
            # The worker died under the candidate (an OOM kill, a crash): the candidate's failure.
            # Ray's own words (log file names, task names) go to the log, not to the island.
            log.warning("an evaluation's worker died: %s", first_line(exc))
            return EvalOutcome.failure(
                FailureKind.WORKER_DIED,
                "the evaluation's worker process died while running it (killed, out of memory, or crashed)",
                sandbox=self.sandbox,
            )
        if outcome.node:
            self.nodes.evaluated_on(outcome.node)
        self.recovered()
        return outcome
