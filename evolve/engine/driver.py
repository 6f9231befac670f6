"""The steady-state loop of a run: it holds object references only; the population actor holds state.

No generation barrier: a new mutation starts whenever a model slot frees, a new evaluation whenever
an evaluation slot frees. The driver waits on each evaluation itself and hands the population actor
only finished outcomes, so one slow evaluation never queues the actor's other calls behind it.

A fault of the machinery (the Docker engine gone, an image missing, a node lost) is not the
candidate's: its ticket goes back to the queue, the run pauses (no new model calls, which cost
money) and retries with a growing delay; if the machinery is still broken after `infra_wait`
seconds, the run stops as failed with the cause.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_for_any
from dataclasses import dataclass, replace
from typing import Any

from evolve.diskfull import filled
from evolve.engine.cluster import NodeHealth, first_line, node_cannot_evaluate, worker_lost
from evolve.engine.options import Progress, RunOptions
from evolve.errors import InfrastructureError, NodeLost, RunError
from evolve.kinds import EventKind, FailureKind, RunStatus
from evolve.logs import milestone
from evolve.mutate.propose import Proposal
from evolve.mutate.spending import Hold, Spending
from evolve.problem import Problem
from evolve.sandbox.base import EvalOutcome, EvalRequest
from evolve.store.liveness import HEARTBEAT_SECONDS

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted by the user (Ctrl-C)"
CALLS_FAILING = "the model calls keep failing"
INFRA_BROKEN = "the machinery keeps failing"
BUDGET_SPENT = "cost budget reached"  # the final message, with what was spent, is made at the stop
MAX_RETRY_DELAY = 30.0
PLACEMENT_STALL_SECONDS = 10.0  # evaluations in flight and none ended this long: ask whether any node can run one


class _InterruptFlag:
    """First Ctrl-C: stop launching and finish what is in flight. Second: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


@dataclass
class _Outage:
    """A run of infrastructure faults with no success in between."""

    since: float
    faults: int
    cause: str
    retry_at: float


class Driver:
    """Drives a run's futures. A candidate moves through `proposals` (a model call in flight, on
    a thread of this process), `admissions` (the actor storing the proposal and deciding whether
    to evaluate it), `evaluations` (in a sandbox, a Ray task) and `records` (the actor storing a
    finished outcome). Ray's references are waited on as futures, with the model calls."""

    def __init__(
        self,
        db,
        mutators,
        evaluate,
        template: EvalRequest,
        sandbox_args: tuple,
        options: RunOptions,
        on_progress: Callable[[Progress], None] | None,
        insight_interval: int = 0,
        needs: dict[str, float] | None = None,
        spending: Spending | None = None,
    ):
        self.db, self.mutators, self.evaluate = db, mutators, evaluate
        # Every this many evaluations, one model call writes the run's scratchpad (0: never).
        self.insight_interval = insight_interval
        self.next_insight_at: int | None = None
        self.template, self.sandbox_args, self.options = template, sandbox_args, options
        self.on_progress = on_progress or (lambda progress: None)
        self.progress = Progress()
        self.started = time.monotonic()
        # A wrong key, model name or address fails every call: say so instead of burning iterations.
        self.failing_calls_limit = max(6, 2 * options.llm_concurrency)
        self.outage: _Outage | None = None
        self.start_info: Any = None
        self.last_beat = time.monotonic()
        self.spending = spending  # --max-cost: each model call reserves its price bound first
        self.insight_hold: Hold | None = None
        self.failing_calls, self.last_call_error = 0, ""
        self.needs = needs or {}  # what one evaluation asks of a node (CPU, GPU, custom resources)
        self.last_evaluation_end = time.monotonic()
        self.early_initial: Any = None  # the initial program's evaluation, started before the population opened
        self.nodes = NodeHealth()

    def _insight_due(self) -> bool:
        """Whether `progress.evaluated` crossed the next multiple of the insight interval (a
        resumed run counts on from its evaluations) and the budget allows one more call."""
        every, evaluated = self.insight_interval, self.progress.evaluated
        if every <= 0:
            return False
        if self.next_insight_at is None:
            self.next_insight_at = (evaluated // every + 1) * every
        if evaluated < self.next_insight_at:
            return False
        if self.spending is not None:  # the insight's call reserves its bound like a mutation's
            self.insight_hold = self.spending.hold()
            if self.insight_hold is None:
                return False
        self.next_insight_at = (evaluated // every + 1) * every
        return True

    def _reserve(self) -> Hold | None:
        """A first call's price bound reserved for an iteration about to launch (mutate/spending.py),
        a free one without a budget; None when what is left of the budget cannot hold one more call."""
        return self.spending.hold() if self.spending is not None else Hold(0.0, open=False)

    def _beat(self) -> None:
        """Tell the store the driver is alive (a killed run then reads as interrupted)."""
        now = time.monotonic()
        if now - self.last_beat >= HEARTBEAT_SECONDS:
            self.last_beat = now
            self.db.heartbeat()

    # ---- infrastructure faults ----------------------------------------------------------

    def _infra_fault(self, exc: BaseException) -> None:
        now = time.monotonic()
        cause = first_line(exc)
        if self.outage is None:
            self.outage = _Outage(since=now, faults=0, cause=cause, retry_at=now)
            log.warning("infrastructure fault, pausing the run: %s", cause)
            self.db.add_event(EventKind.PAUSE, f"paused: {cause}")
        self.outage.faults += 1
        self.outage.cause = cause
        self.outage.retry_at = now + min(MAX_RETRY_DELAY, 2.0 ** (self.outage.faults - 1))
        self.on_progress(replace(self.progress, last_event=f"paused (machinery fault, retrying): {cause[:100]}"))

    def _infra_recovered(self) -> None:
        if self.outage is not None:
            log.warning("infrastructure recovered after %.0f s", time.monotonic() - self.outage.since)
            self.db.add_event(EventKind.RESUME, "the machinery answers again: run resumed")
            self.outage = None

    def _paused(self) -> bool:
        return self.outage is not None and time.monotonic() < self.outage.retry_at

    def _check_placement(self, in_flight: int) -> None:
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
            self._infra_fault(InfrastructureError(f"cannot place evaluations: {why}"))

    def _avoid_node(self, exc: BaseException) -> bool:
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
            EventKind.NODE_AVOIDED,
            f"node {node[:12]} avoided for {seconds:.0f} s: {cause}",
            {"node": node, "seconds": seconds, "faults": self.nodes.avoided[node][1]},
        )
        self.on_progress(replace(self.progress, last_event=f"node {node[:12]} avoided: {cause[:100]}"))
        return True

    def _launch(self, ticket) -> Any:
        """An evaluation task; while a node is avoided, it asks for one of the working nodes first."""
        node = self.nodes.preferred()
        task = self.evaluate.preferring(node) if node is not None else self.evaluate
        return task.remote(ticket, self.template, *self.sandbox_args)

    def _infra_gave_up(self) -> str | None:
        o = self.outage
        if o is not None and time.monotonic() - o.since >= self.options.infra_wait:
            return f"{INFRA_BROKEN} ({o.faults} tries over {time.monotonic() - o.since:.0f} s): {o.cause}"
        return None

    # ---- the run ------------------------------------------------------------------------

    def open(self, early_initial: Any = None) -> None:
        """Take the opened (or reopened) run's start: its initial program, its progress, and the
        evaluation of the initial program already under way, if one is."""
        self.early_initial = early_initial
        self.start_info = self.db.start_info
        self.progress = self.start_info.progress

    def evaluate_initial(self, problem: Problem) -> None:
        import ray

        info = self.start_info
        if info.initial_ticket is not None:
            early, self.early_initial = self.early_initial, None
            outcome = self._finished(early.future()) if early is not None else None
            if outcome is None:  # none under way, or the machinery failed it: as any evaluation
                outcome = self.evaluate_now(info.initial_ticket, self.template)
            ref = self.db.submit_result(info.initial_ticket, outcome)
            self.progress = self.db.progress(ref, ray.get(ref))
            if not outcome.ok:
                self.db.finish(RunStatus.FAILED, f"the initial program failed: {outcome.reason}")
                raise RunError(f"{problem.program_path}: the initial program fails its evaluation: {outcome.reason}")
        self.on_progress(self.progress)

    def _count_call(self, proposal: Proposal) -> None:
        """The run's streak of iterations whose model call failed (counted here: a shard sees only its own)."""
        if proposal.error is not None:
            self.failing_calls += 1
            self.last_call_error = proposal.error
        else:
            self.failing_calls = 0

    def stop_reason(self) -> str | None:
        p, o = self.progress, self.options
        if self.failing_calls >= self.failing_calls_limit:
            return f"{CALLS_FAILING}: the last {self.failing_calls} all failed; the latest: {self.last_call_error}"
        if o.max_seconds is not None and time.monotonic() - self.started >= o.max_seconds:
            return f"wall time of {o.max_seconds:g} s reached"
        if o.max_cost is not None and p.cost >= o.max_cost:
            return BUDGET_SPENT
        if o.target_score is not None and p.best_score is not None and p.best_score >= o.target_score:
            return f"target score {o.target_score:g} reached ({p.best_score:.6g})"
        if o.patience is not None and p.since_best >= o.patience:
            return f"no better program in the last {p.since_best} evaluations (patience {o.patience})"
        return self._infra_gave_up()

    def steady_state(self) -> tuple[RunStatus, str]:
        """Run until the iterations are done or a stop condition holds; returns (status, reason)."""
        import ray

        o = self.options
        workers = o.eval_workers or 1  # resolved from the cluster before the run starts
        proposals: dict[Future, Any] = {}  # a model call -> its task's ref, to record a proposal that failed
        admissions: dict[Future, tuple] = {}  # an admission (or a judge's verdict) -> (proposal, its ref or None)
        evaluations: dict[Future, tuple] = {}  # an evaluation -> (its ticket, its Ray reference)
        records: dict[Future, Any] = {}  # a stored result or insight -> its Ray ref (for the run's progress)
        waiting_for_slot: deque = deque()
        insight: Future | None = None  # the insight call in flight (one at a time)
        launched = self.progress.completed
        if self.spending is not None:
            self.spending.start(self.progress.cost)  # a resumed run's earlier calls count
        stopping: str | None = None
        interrupt = _InterruptFlag()
        try:
            while True:
                if interrupt.requested and stopping is None:
                    stopping = INTERRUPTED
                    self.on_progress(
                        replace(
                            self.progress, last_event="stopping: finishing what is in flight (Ctrl-C again to stop now)"
                        )
                    )
                stopping = stopping or self.stop_reason()
                if stopping and stopping.startswith(INFRA_BROKEN):
                    waiting_for_slot.clear()  # their programs stay pending: `finish` marks them interrupted
                    for _, ref in evaluations.values():  # ones no node can take would wait for ever
                        ray.cancel(ref, force=True)
                    evaluations.clear()
                paused = self._paused() or (self.outage is not None and bool(evaluations))
                backlog = len(proposals) + len(admissions) + len(waiting_for_slot)
                while (
                    stopping is None
                    and not paused
                    and launched < o.iterations
                    and len(proposals) < o.llm_concurrency
                    and backlog < o.llm_concurrency + workers
                    and (held := self._reserve()) is not None
                ):
                    task = self.db.next_task()
                    proposals[self.mutators.propose(task, held)] = task
                    if launched == self.progress.completed:
                        milestone("first model call launched")
                    launched += 1
                    backlog += 1
                idle = stopping is None and not proposals and insight is None and launched < o.iterations
                if idle and self.spending is not None and not self.spending.room():
                    stopping = BUDGET_SPENT  # the next call could cost more than what is left
                # An insight only while prompts are still to come (none would read a later one).
                due = insight is None and stopping is None and not paused and launched < o.iterations
                if due and self._insight_due():
                    insight = self.mutators.write_insight(self.db.insight_context())
                # In an outage one evaluation at a time probes the machinery.
                slots = 1 if self.outage is not None else workers
                while waiting_for_slot and not self._paused() and len(evaluations) < slots:
                    ticket = waiting_for_slot.popleft()
                    ref = self._launch(ticket)
                    evaluations[ref.future()] = (ticket, ref)
                pending = [*proposals, *admissions, *evaluations, *records, *([insight] if insight else [])]
                if not pending:
                    if waiting_for_slot:  # paused: wait for the retry time
                        time.sleep(
                            min(1.0, max(0.05, self.outage.retry_at - time.monotonic())) if self.outage else 0.05
                        )
                        continue
                    break
                self._beat()
                self._check_placement(len(evaluations))
                ready, _ = wait_for_any(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                results = []  # outcomes that ended together go to the population in one call
                for done in ready:
                    if done in proposals:
                        proposal = self._proposal(done, proposals.pop(done))
                        self._count_call(proposal)
                        ref = self.db.submit_proposal(proposal)
                        admissions[ref.future()] = (proposal, ref)
                    elif done in admissions:
                        proposal, ref = admissions.pop(done)
                        if ref is None:  # the judge's verdict on a near-duplicate goes back to the actor with it
                            verdict = self._model_result(done, "the novelty judge")
                            if self.spending is not None and verdict is not None:
                                self.spending.settle(None, verdict.cost)  # a short yes/no call, not reserved
                            if verdict is not None:
                                ref = self.db.submit_proposal(proposal, verdict)
                                admissions[ref.future()] = (proposal, ref)
                            continue
                        admission = self._admitted(done)
                        if admission is not None and admission.judge is not None:
                            admissions[self.mutators.judge(admission.judge)] = (proposal, None)
                            continue
                        if admission is not None:
                            self.progress = self.db.progress(ref, admission.progress)
                            if admission.ticket is not None:
                                waiting_for_slot.append(admission.ticket)
                    elif done in evaluations:
                        ticket, _ = evaluations.pop(done)
                        self.last_evaluation_end = time.monotonic()
                        outcome = self._finished(done)
                        if outcome is None:
                            waiting_for_slot.appendleft(ticket)  # the machinery's fault: try it again
                        else:
                            results.append((ticket, outcome))
                    elif done is insight:
                        insight = None  # stored like a result; its cost is the run's
                        written = self._model_result(done, "writing the insight")
                        if self.spending is not None:
                            self.spending.settle(self.insight_hold, written.cost if written is not None else 0.0)
                        if written is not None:
                            ref = self.db.add_insight(written)
                            records[ref.future()] = ref
                    else:
                        self.progress = self.db.progress(records.pop(done), self._recorded(done))
                    self.on_progress(self.progress)
                if len(results) == 1:
                    ref = self.db.submit_result(*results[0])
                    records[ref.future()] = ref
                elif results:
                    for ref in self.db.submit_results(results):  # one commit per shard
                        records[ref.future()] = ref
        except KeyboardInterrupt:  # the second Ctrl-C: drop what is in flight, keep what is stored
            for _, ref in evaluations.values():
                ray.cancel(ref, force=True)
            for call in proposals:
                call.cancel()  # one not started yet; a call in flight ends on its own timeout
            return RunStatus.STOPPED, INTERRUPTED
        finally:
            interrupt.restore()
        if stopping == BUDGET_SPENT:  # said with what was spent, once every call in flight has ended
            stopping = (
                f"cost budget of ${o.max_cost:g} reached: ${self.progress.cost:.4f} spent "
                f"(each model call first reserved its price bound, now ${self.spending.bound if self.spending else 0.0:.4f})"
            )
        if stopping:
            failed = stopping.startswith((CALLS_FAILING, INFRA_BROKEN))
            return (RunStatus.FAILED if failed else RunStatus.STOPPED), stopping
        return RunStatus.FINISHED, f"completed {o.iterations} iterations"

    def _finished(self, done: Future) -> EvalOutcome | None:
        """The outcome of a finished evaluation; None when the machinery failed (retry it)."""
        import ray

        try:
            outcome = done.result()
        except InfrastructureError as exc:
            if not self._avoid_node(exc):
                self._infra_fault(exc)
            return None
        except ray.exceptions.RayError as exc:
            if worker_lost(exc):
                self._infra_fault(NodeLost(f"the node running an evaluation was lost: {first_line(exc)}"))
                return None
            if node_cannot_evaluate(exc):
                self._infra_fault(InfrastructureError(f"a node cannot run evaluations: {first_line(exc)}"))
                return None
            # The worker died under the candidate (an OOM kill, a crash): the candidate's failure.
            # Ray's own words (log file names, task names) go to the log, not to the island.
            log.warning("an evaluation's worker died: %s", first_line(exc))
            return EvalOutcome.failure(
                FailureKind.WORKER_DIED,
                "the evaluation's worker process died while running it (killed, out of memory, or crashed)",
                sandbox=self.options.sandbox,
            )
        if outcome.node:
            self.nodes.evaluated_on(outcome.node)
        self._infra_recovered()
        return outcome

    def evaluate_now(self, ticket, request: EvalRequest) -> EvalOutcome:
        """Evaluate one program outside the loop (the initial program, a held-out score), riding out
        an outage the same way; raises the InfrastructureError when it lasts past `infra_wait`."""
        while True:
            outcome = self._finished(self.evaluate.remote(ticket, request, *self.sandbox_args).future())
            if outcome is not None:
                return outcome
            assert self.outage is not None
            if self._infra_gave_up():
                raise InfrastructureError(f"{INFRA_BROKEN}: {self.outage.cause}")
            time.sleep(max(0.0, self.outage.retry_at - time.monotonic()))

    def _proposal(self, done: Future, task_ref) -> Proposal:
        """The proposal, or, when the mutator raised (our bug, or a library's), a proposal that
        records the error: the iteration is counted and its reason stored, not lost."""
        import ray

        try:
            return done.result()
        except ray.exceptions.RayActorError as exc:  # the task's actor is gone: nothing more can be stored
            raise RunError(f"the population actor died: {first_line(exc)}") from None
        except Exception as exc:
            log.error("the mutator raised: %s", exc, exc_info=exc)
            task = ray.get(task_ref)
            error = f"the mutator raised: {str(exc).strip().splitlines()[-1][:400] if str(exc).strip() else type(exc).__name__}"
            return Proposal(
                iteration=task.iteration,
                island=task.island,
                parent_id=task.parent.id,
                inspiration_ids=tuple(p.id for p in task.inspirations),
                model="(mutator)",
                mutation="error",
                prompt="",
                answer=None,
                child_code=None,
                reject_reason=error,
                error=error,
            )

    def _admitted(self, done: Future):
        """The actor's decision on a proposal; None when the proposal itself failed (a bug in a
        mutator, say), which loses that one iteration and not the run."""
        import ray

        try:
            return done.result()
        except ray.exceptions.RayActorError as exc:
            raise RunError(f"the population actor died: {first_line(exc)}") from None
        except ray.exceptions.RayError as exc:
            if filled(exc) is not None:  # not this proposal's fault: the run cannot store anything
                raise
            log.error("a proposal failed: %s", exc)
            self.on_progress(replace(self.progress, last_event=f"a proposal failed: {first_line(exc)[:200]}"))
            return None

    def _model_result(self, done: Future, what: str):
        """A judge's verdict or an insight from the model threads; None when its call raised (that
        iteration, or that insight, is lost, not the run)."""
        try:
            return done.result()
        except Exception as exc:
            log.error("%s raised: %s", what, exc, exc_info=exc)
            self.on_progress(replace(self.progress, last_event=f"{what} failed: {first_line(exc)[:200]}"))
            return None

    def _recorded(self, done: Future) -> Progress:
        import ray

        try:
            return done.result()
        except ray.exceptions.RayError as exc:
            if filled(exc) is not None:
                raise  # the run stops as interrupted (evolve/engine/run.py), to be resumed
            raise RunError(f"the population actor failed to store a result: {first_line(exc)}") from None
