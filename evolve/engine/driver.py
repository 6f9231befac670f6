"""The steady-state loop of a run: it holds object references only; the population actor holds state.

No generation barrier: a new mutation starts whenever a model slot frees, a new evaluation whenever
an evaluation slot frees. The driver waits on each evaluation itself and hands the population actor
only finished outcomes, so one slow evaluation never queues the actor's other calls behind it.
Each kind of work in flight (evolve/engine/inflight.py) has its own handler here; a fault of the
machinery pauses the run and retries (evolve/engine/machinery.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_for_any
from dataclasses import replace
from typing import Any

from evolve.diskfull import filled
from evolve.engine.cluster import first_line
from evolve.engine.first_proposals import FirstCall, adopted
from evolve.engine.inflight import Admission, Evaluation, InFlight, InsightCall, ModelCall, Stored, Verdict, Work
from evolve.engine.interrupt import InterruptFlag
from evolve.engine.machinery import INFRA_BROKEN, Machinery
from evolve.engine.options import Progress, RunOptions
from evolve.errors import InfrastructureError, RunError
from evolve.kinds import Mutation, StopKind
from evolve.logs import milestone
from evolve.mutate.propose import MutationTask, Proposal
from evolve.mutate.spending import Hold, Spending
from evolve.problem import Problem
from evolve.sandbox.base import EvalOutcome, EvalRequest
from evolve.stop_reason import StopReason
from evolve.store.liveness import HEARTBEAT_SECONDS

log = logging.getLogger(__name__)

INTERRUPTED = StopReason(StopKind.INTERRUPTED, "interrupted by the user (Ctrl-C)")
# The final words, with what was spent, are made at the stop (`_ending`).
BUDGET_SPENT = StopReason(StopKind.BUDGET, "cost budget reached")
__all__ = ["Driver"]


class Driver:
    """Drives a run's futures: each kind of work in flight (evolve/engine/inflight.py) has its
    handler, `_on_...`. Ray's references are waited on as futures, with the model calls."""

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
        interrupt: InterruptFlag | None = None,
        deadline: float | None = None,
    ):
        self.db, self.mutators, self.evaluate = db, mutators, evaluate
        # Every this many evaluations, one model call writes the run's scratchpad (0: never).
        self.insight_interval = insight_interval
        self.next_insight_at: int | None = None
        self.template, self.sandbox_args, self.options = template, sandbox_args, options
        self.on_progress = on_progress or (lambda progress: None)
        self.progress = Progress()
        # --max-seconds as a time.time() deadline, the model calls' own (MutatorSettings.deadline):
        # the run's clock starts at its launch, before the first proposals, not here.
        self.deadline = deadline
        if deadline is None and options.max_seconds is not None:
            self.deadline = time.time() + options.max_seconds
        # A wrong key, model name or address fails every call: say so instead of burning iterations.
        self.failing_calls_limit = max(6, 2 * options.llm_concurrency)
        self.start_info: Any = None
        self.last_beat = time.monotonic()
        self.spending = spending  # --max-cost: each model call reserves its price bound first
        self.insight_hold: Hold | None = None
        self.failing_calls, self.last_call_error = 0, ""
        self.early_initial: Any = None  # the initial program's evaluation, started before the population opened
        self.machinery = Machinery(db, options.infra_wait, needs or {}, options.sandbox, self._tell)
        self.launched = 0  # iterations whose model call was launched (a resumed run counts on)
        self.interrupt = interrupt  # Ctrl-C's flag when the start installed it (its first proposals)
        self.first_calls: list[FirstCall] = []  # sent before Ray started (evolve/engine/first_proposals.py)

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

    def _tell(self, event: str) -> None:
        """Show one line as the run's last event."""
        self.on_progress(replace(self.progress, last_event=event))

    def _launch(self, ticket) -> Any:
        """An evaluation task; while a node is avoided, it asks for one of the working nodes first."""
        node = self.machinery.nodes.preferred()
        task = self.evaluate.preferring(node) if node is not None else self.evaluate
        return task.remote(ticket, self.template, *self.sandbox_args)

    # ---- the run ------------------------------------------------------------------------

    def open(self, early_initial: Any = None, first_calls: tuple[FirstCall, ...] = ()) -> None:
        """Take the opened (or reopened) run's start: its initial program, its progress, the
        evaluation of the initial program already under way, if one is, and a new run's first
        proposals, made children of its initial program and numbered as its first iterations."""
        self.early_initial = early_initial
        self.start_info = self.db.start_info
        self.progress = self.start_info.progress
        ticket = self.start_info.initial_ticket
        if first_calls and ticket is not None:
            islands = self.db.islands
            self.first_calls = adopted(
                first_calls, ticket.program_id, self.db.claim_iterations(len(first_calls)), islands
            )

    def evaluate_initial(self, problem: Problem) -> None:
        import ray

        info = self.start_info
        if info.initial_ticket is not None:
            early, self.early_initial = self.early_initial, None
            outcome = self.machinery.finished(early.future()) if early is not None else None
            if outcome is None:  # none under way, or the machinery failed it: as any evaluation
                outcome = self.evaluate_now(info.initial_ticket, self.template)
            ref = self.db.submit_result(info.initial_ticket, outcome)
            self.progress = self.db.progress(ref, ray.get(ref))
            if not outcome.ok:
                self.db.finish(StopReason(StopKind.INITIAL_FAILED, f"the initial program failed: {outcome.reason}"))
                raise RunError(f"{problem.program_path}: the initial program fails its evaluation: {outcome.reason}")
        self.on_progress(self.progress)

    def _count_call(self, proposal: Proposal) -> None:
        """The run's streak of iterations whose model call failed (counted here: a shard sees only its own)."""
        if proposal.error is not None:
            self.failing_calls += 1
            self.last_call_error = proposal.error
        else:
            self.failing_calls = 0

    def stop_reason(self) -> StopReason | None:
        p, o = self.progress, self.options
        if self.deadline is not None and time.time() >= self.deadline:  # first: it fails the calls
            return StopReason(StopKind.WALL_TIME, f"wall time of {o.max_seconds:g} s reached")
        if self.failing_calls >= self.failing_calls_limit:
            return StopReason(
                StopKind.CALLS_FAILING,
                f"the model calls keep failing: the last {self.failing_calls} all failed; "
                f"the latest: {self.last_call_error}",
            )
        if o.max_cost is not None and p.cost >= o.max_cost:
            return BUDGET_SPENT
        if o.target_score is not None and p.best_score is not None and p.best_score >= o.target_score:
            return StopReason(StopKind.TARGET_SCORE, f"target score {o.target_score:g} reached ({p.best_score:.6g})")
        if o.patience is not None and p.since_best >= o.patience:
            return StopReason(
                StopKind.PATIENCE,
                f"no better program in the last {p.since_best} evaluations (patience {o.patience})",
            )
        return self.machinery.gave_up()

    def steady_state(self) -> StopReason:
        """Run until the iterations are done or a stop condition holds; returns why it stopped."""
        flights = InFlight()
        self.launched = self.progress.completed
        for call in self.first_calls:  # iterations like any other, their calls made already
            flights.add(call.future, ModelCall(call.task))
            self.launched += 1
        self.first_calls = []
        if self.spending is not None:
            self.spending.start(self.progress.cost)  # a resumed run's earlier calls count
        stopping: StopReason | None = None
        interrupt = self.interrupt or InterruptFlag()
        try:
            while True:
                stopping = self._stopping(stopping, interrupt, flights)
                stopping = self._launch_work(stopping, flights)
                if not flights.work:
                    if flights.waiting_for_slot:  # paused: wait for the retry time
                        outage = self.machinery.outage
                        time.sleep(min(1.0, max(0.05, outage.retry_at - time.monotonic())) if outage else 0.05)
                        continue
                    break
                self._beat()
                self.machinery.check_placement(flights.count(Evaluation))
                ready, _ = wait_for_any(list(flights.work), timeout=1.0, return_when=FIRST_COMPLETED)
                results: list[tuple[Any, EvalOutcome]] = []  # outcomes that ended together: one call
                for done in ready:
                    if self._on(done, flights.pop(done), flights, results):
                        self.on_progress(self.progress)
                self._store(results, flights)
        except KeyboardInterrupt:  # the second Ctrl-C: drop what is in flight, keep what is stored
            flights.cancel_evaluations()
            flights.cancel_model_calls()
            return INTERRUPTED
        finally:
            interrupt.restore()
        return self._ending(stopping)

    def _stopping(self, stopping: StopReason | None, interrupt: InterruptFlag, flights: InFlight) -> StopReason | None:
        """Why the run stops launching, if it does: a Ctrl-C, or a stop condition that holds now."""
        if interrupt.requested and stopping is None:
            stopping = INTERRUPTED
            self._tell("stopping: finishing what is in flight (Ctrl-C again to stop now)")
        stopping = stopping or self.stop_reason()
        if stopping is not None and stopping.kind == StopKind.INFRA_BROKEN:
            flights.waiting_for_slot.clear()  # their programs stay pending: `finish` marks them interrupted
            flights.cancel_evaluations()  # ones no node can take would wait for ever
        return stopping

    def _launch_work(self, stopping: StopReason | None, flights: InFlight) -> StopReason | None:
        """Launch model calls, an insight and evaluations while slots are free; returns `stopping`,
        set when the budget cannot hold the next call."""
        o, outage = self.options, self.machinery.outage
        workers = o.eval_workers or 1  # resolved from the cluster before the run starts
        paused = self.machinery.paused() or (outage is not None and flights.count(Evaluation) > 0)
        backlog = flights.backlog()
        while (
            stopping is None
            and not paused
            and self.launched < o.iterations
            and flights.count(ModelCall) < o.llm_concurrency
            and backlog < o.llm_concurrency + workers
            and (held := self._reserve()) is not None
        ):
            task = self.db.next_task()
            flights.add(self.mutators.propose(task, held), ModelCall(task))
            if self.launched == self.progress.completed:
                milestone("first model call launched")
            self.launched += 1
            backlog += 1
        insight = flights.count(InsightCall) > 0
        calls = flights.count(ModelCall) > 0
        idle = stopping is None and not calls and not insight and self.launched < o.iterations
        if idle and self.spending is not None and not self.spending.room():
            stopping = BUDGET_SPENT  # the next call could cost more than what is left
        # An insight only while prompts are still to come (none would read a later one).
        due = not insight and stopping is None and not paused and self.launched < o.iterations
        if due and self._insight_due():
            flights.add(self.mutators.write_insight(self.db.insight_context()), InsightCall())
        # In an outage one evaluation at a time probes the machinery.
        slots = 1 if self.machinery.outage is not None else workers
        while flights.waiting_for_slot and not self.machinery.paused() and flights.count(Evaluation) < slots:
            ticket = flights.waiting_for_slot.popleft()
            ref = self._launch(ticket)
            flights.add(ref.future(), Evaluation(ticket, ref))
        return stopping

    def _on(self, done: Future, work: Work, flights: InFlight, results: list) -> bool:
        """Handle one finished piece of work; False when the run's progress did not move."""
        match work:
            case ModelCall():
                self._on_model_call(done, work, flights)
            case Verdict():
                self._on_verdict(done, work, flights)
                return False
            case Admission():
                return self._on_admission(done, work, flights)
            case Evaluation():
                self._on_evaluation(done, work, flights, results)
            case InsightCall():
                self._on_insight(done, flights)
            case Stored():
                self.progress = self.db.progress(work.ref, self._recorded(done))
        return True

    def _on_model_call(self, done: Future, work: ModelCall, flights: InFlight) -> None:
        proposal = self._proposal(done, work.task_ref)
        self._count_call(proposal)
        ref = self.db.submit_proposal(proposal)
        flights.add(ref.future(), Admission(proposal, ref))

    def _on_verdict(self, done: Future, work: Verdict, flights: InFlight) -> None:
        """The judge's verdict on a near-duplicate goes back to the actor with its proposal."""
        verdict = self._model_result(done, "the novelty judge")
        if verdict is None:
            return
        if self.spending is not None:
            self.spending.settle(None, verdict.usage.cost)  # a short yes/no call, not reserved
        ref = self.db.submit_proposal(work.proposal, verdict)
        flights.add(ref.future(), Admission(work.proposal, ref))

    def _on_admission(self, done: Future, work: Admission, flights: InFlight) -> bool:
        """The actor's decision: ask the judge, queue the ticket for a slot, or nothing to evaluate."""
        admission = self._admitted(done)
        if admission is not None and admission.judge is not None:
            flights.add(self.mutators.judge(admission.judge), Verdict(work.proposal))
            return False
        if admission is not None:
            self.progress = self.db.progress(work.ref, admission.progress)
            if admission.ticket is not None:
                flights.waiting_for_slot.append(admission.ticket)
        return True

    def _on_evaluation(self, done: Future, work: Evaluation, flights: InFlight, results: list) -> None:
        self.machinery.last_evaluation_end = time.monotonic()
        outcome = self.machinery.finished(done)
        if outcome is None:
            flights.waiting_for_slot.appendleft(work.ticket)  # the machinery's fault: try it again
        else:
            results.append((work.ticket, outcome))

    def _on_insight(self, done: Future, flights: InFlight) -> None:
        """Stored like a result; its cost is the run's."""
        written = self._model_result(done, "writing the insight")
        if self.spending is not None:
            self.spending.settle(self.insight_hold, written.usage.cost if written is not None else 0.0)
        if written is not None:
            ref = self.db.add_insight(written)
            flights.add(ref.future(), Stored(ref))

    def _store(self, results: list, flights: InFlight) -> None:
        """Hand the outcomes that ended together to the population: one commit per shard."""
        if len(results) == 1:
            ref = self.db.submit_result(*results[0])
            flights.add(ref.future(), Stored(ref))
        elif results:
            for ref in self.db.submit_results(results):
                flights.add(ref.future(), Stored(ref))

    def _ending(self, stopping: StopReason | None) -> StopReason:
        o = self.options
        # The budget's words say what was spent, once every call in flight has ended.
        if stopping is not None and stopping.kind == StopKind.BUDGET:
            bound = self.spending.bound if self.spending else 0.0
            return StopReason(
                StopKind.BUDGET,
                f"cost budget of ${o.max_cost:g} reached: ${self.progress.cost:.4f} spent "
                f"(each model call first reserved its price bound, now ${bound:.4f})",
            )
        return stopping or StopReason(StopKind.COMPLETED, f"completed {o.iterations} iterations")

    def evaluate_now(self, ticket, request: EvalRequest) -> EvalOutcome:
        """Evaluate one program outside the loop (the initial program, a held-out score), riding out
        an outage the same way; raises the InfrastructureError when it lasts past `infra_wait`."""
        while True:
            outcome = self.machinery.finished(self.evaluate.remote(ticket, request, *self.sandbox_args).future())
            if outcome is not None:
                return outcome
            outage = self.machinery.outage
            assert outage is not None
            if self.machinery.gave_up():
                raise InfrastructureError(f"{INFRA_BROKEN}: {outage.cause}")
            time.sleep(max(0.0, outage.retry_at - time.monotonic()))

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
            task = task_ref if isinstance(task_ref, MutationTask) else ray.get(task_ref)
            error = f"the mutator raised: {str(exc).strip().splitlines()[-1][:400] if str(exc).strip() else type(exc).__name__}"
            return Proposal(
                iteration=task.iteration,
                island=task.island,
                parent_id=task.parent.id,
                inspiration_ids=tuple(p.id for p in task.inspirations),
                model="(mutator)",
                mutation=Mutation.MUTATOR_ERROR,
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
            self._tell(f"a proposal failed: {first_line(exc)[:200]}")
            return None

    def _model_result(self, done: Future, what: str):
        """A judge's verdict or an insight from the model threads; None when its call raised (that
        iteration, or that insight, is lost, not the run)."""
        try:
            return done.result()
        except Exception as exc:
            log.error("%s raised: %s", what, exc, exc_info=exc)
            self._tell(f"{what} failed: {first_line(exc)[:200]}")
            return None

    def _recorded(self, done: Future) -> Progress:
        import ray

        try:
            return done.result()
        except ray.exceptions.RayError as exc:
            if filled(exc) is not None:
                raise  # the run stops as interrupted (evolve/engine/run.py), to be resumed
            raise RunError(f"the population actor failed to store a result: {first_line(exc)}") from None
