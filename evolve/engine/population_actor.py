"""The population actor: the in-memory population over the store; hands out tasks, admits proposals, records results.

In a run it lives in Ray actors: one by default, the only writer, or one per population shard
(`[population] shards`), each owning the islands its `ShardSpec` gives it, with its own writer
(evolve/engine/sharded_population.py coordinates them from the driver). Mutators and evaluators
anywhere in the cluster send it plain values. It writes through the store's `RunWriter`, and
every result is committed before anything acts on it, so a killed run resumes from the database
alone (evolve/engine/population_resume.py); a batch is one transaction, committed before the
method returns. The adaptive search (evolve/engine/run_search.py) decides; the actor applies it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace

from evolve.edit import unified_diff
from evolve.engine.call_rows import write_calls, write_child, write_insight, write_verdict
from evolve.engine.options import Progress
from evolve.engine.population_resume import RunStart, open_run
from evolve.engine.population_values import Admission, Emigrant, ShardStart, StartInfo, code_hash, selection_policy
from evolve.engine.program_views import ProgramViews
from evolve.engine.prompt_memory import PromptHints, prompt_memory
from evolve.engine.repeat import Contender, Repeats, record_repeats, top_members
from evolve.engine.run_search import Novelty, RunSearch, island_bests
from evolve.engine.tickets import EvalTicket
from evolve.kinds import CallOutcome, ProgramStatus
from evolve.mutate.insight import Insight, InsightContext
from evolve.mutate.memory import CellAxis, Memory
from evolve.mutate.offline import OFFLINE_MUTATOR
from evolve.mutate.propose import MutationTask, Proposal
from evolve.population import Population, axes_for, cell_of, feature_values
from evolve.population.shard_spec import UNSHARDED, ShardSpec
from evolve.problem import Problem
from evolve.sandbox.base import EvalOutcome
from evolve.search.judge import Verdict
from evolve.stop_reason import StopReason
from evolve.store import BestProgram, RunConfig, open_engine, read_best_program, session_factory
from evolve.store.events import EventPayload, MigrationPayload, NewBestPayload, ResetPayload
from evolve.store.history import RunHistory
from evolve.store.population_reads import read_cells, read_codes, read_initial

log = logging.getLogger(__name__)


class PopulationActor:
    def __init__(
        self,
        db_url: str,
        run_name: str,
        problem: Problem,
        run_config: RunConfig,
        seed: int,
        sandbox: str,
        mutator: str,
        iterations: int | None,
        resume: bool,
        shard: ShardSpec = UNSHARDED,
    ):
        self.engine = open_engine(db_url)
        self.Session = session_factory(self.engine)
        self.problem = problem
        pop = problem.config.population
        self.shard = shard
        self.owned = shard.islands(pop.islands)
        self.migrate_here = shard.count == 1  # sharded: the coordinator migrates across shards
        self.axes = axes_for(pop.features, problem.initial_code)
        self.population = Population(pop.islands, selection_policy(problem.config))
        self.migration_interval = pop.migration_interval
        self.migration_count = pop.migration_count
        self.seed = seed
        self.last_failure: dict[int, str] = {}  # per island: what the next prompt says went wrong
        self.views = ProgramViews(self.engine)
        self.evaluated_since_migration = 0
        self.search = RunSearch(problem, run_config, seed)  # bandits, novelty, repairs, resets
        start = RunStart(run_name, run_config, seed, sandbox, mutator, iterations, resume)
        opened = open_run(self.engine, start, problem, shard, self.population, self.search)
        self.writer = opened.writer
        self.hashes = set(opened.hashes)
        self.generations = dict(opened.generations)
        self.next_iteration = opened.next_iteration
        self.progress = opened.progress
        self.run_id = self.writer.run_id
        self.run_name = run_name
        # What prompts remember (none for the offline mutator, which reads no prompt; none for best-of-n).
        self.prompt = problem.config.prompt
        self.remember = mutator != OFFLINE_MUTATOR and self.search.strategy.uses_population
        self.cell_axes = tuple(CellAxis(a.name, a.min, a.max, a.bins) for a in self.axes)
        self.history = RunHistory(self.engine, self.run_id)
        self.history.load(pop.islands)
        self.hints = PromptHints(self.engine, self.run_id)  # a person's hints, read as they are written
        if shard.home:  # insights are the run's, written and counted by the home shard alone
            self.progress = replace(self.progress, cost=self.progress.cost + self.history.insight_cost)

    # ---- the start ----------------------------------------------------------------------

    def start(self) -> StartInfo:
        initial = read_initial(self.engine, self.run_id)
        assert initial is not None, "every run has its initial program"
        # Pending on a new run; failed on a resume whose first try failed: evaluate it (again).
        ticket = EvalTicket(initial.id, initial.code, 0, 0) if initial.status != ProgramStatus.OK else None
        return StartInfo(ticket, self.progress)

    def start_shard(self) -> ShardStart:
        return ShardStart(self.start(), self.next_iteration)

    # ---- tasks --------------------------------------------------------------------------

    def next_task(self, iteration: int | None = None) -> MutationTask:
        """The next iteration's task; `iteration`: the one a shard coordinator numbered (run-wide)."""
        if iteration is None:
            iteration = self.next_iteration
        self.next_iteration = max(self.next_iteration, iteration + 1)
        island = iteration % len(self.population.islands)  # round robin: no island starves
        rng = random.Random(self.seed * 7_919 + iteration)
        parent = self.population.select_parent(island, rng)
        inspirations = self.population.inspirations(island, parent, rng)
        parent, inspirations, plan = self.search.plan(iteration, island, parent, inspirations, self.population, rng)
        views = self.views.get([parent.id, *(m.id for m in inspirations)])
        memory = Memory()
        if self.remember:
            memory = prompt_memory(
                self.prompt, self.population, self.history, self.views, self.cell_axes, island, parent, rng
            )
        memory = self.hints.add_to(memory, iteration, island)
        return MutationTask(
            iteration=iteration,
            island=island,
            parent=views[parent.id],
            inspirations=tuple(views[m.id] for m in inspirations),
            last_failure=self.last_failure.get(island),
            seed=self.seed,
            model=plan.model,
            mutation=plan.kind,
            second_parent=self.views.one(plan.second_parent.id) if plan.second_parent is not None else None,
            repair=self.views.one(plan.repair.program_id) if plan.repair is not None else None,
            repair_error=plan.repair.error if plan.repair is not None else None,
            memory=memory,
        )

    def next_tasks(self, iterations: list[int]) -> list[MutationTask]:
        return [self.next_task(i) for i in iterations]

    # ---- proposals ----------------------------------------------------------------------

    def submit_proposal(self, proposal: Proposal, verdict: Verdict | None = None) -> Admission:
        outcome, reason, digest = self._classify(proposal)
        novelty = self._novelty(proposal, verdict) if outcome == CallOutcome.CHILD else None
        if novelty is not None and novelty.judge is not None:  # the judge decides first; nothing is stored yet
            return Admission(None, self.progress, judge=novelty.judge)
        if novelty is not None and novelty.reason is not None:
            outcome, reason = CallOutcome.NEAR_DUPLICATE, novelty.reason
        ticket = None
        with self.writer.transaction():  # the calls and the child: one commit
            if verdict is not None:
                write_verdict(self.writer, proposal, verdict)
            call_id = write_calls(self.writer, proposal, outcome, reason)
            if outcome == CallOutcome.CHILD and proposal.child_code is not None:
                ticket = self._store_child(proposal, proposal.child_code, digest, call_id, novelty)
        self.hints.taken(proposal.iteration)
        judged = verdict.usage.cost if verdict is not None else 0.0
        self.search.proposal_ended(proposal, ticket is not None, judged)
        p = replace(self.progress, cost=self.progress.cost + proposal.total_cost + judged)
        if ticket is None:
            self._rejected(proposal, outcome, reason)
            p = replace(
                p,
                completed=p.completed + 1,
                rejected=p.rejected + 1,
                last_event=f"#{proposal.iteration} {outcome}: {reason}",
            )
        self.progress = p
        return Admission(ticket, p)

    def submit_proposals(self, items: list[tuple[Proposal, Verdict | None]]) -> list[Admission]:
        with self.writer.transaction():
            return [self.submit_proposal(proposal, verdict) for proposal, verdict in items]

    def _classify(self, proposal: Proposal) -> tuple[CallOutcome, str | None, str]:
        """The call's outcome before novelty, its reason, and the child's code hash ("" if none)."""
        if proposal.error is not None:
            return CallOutcome.ERROR, proposal.reject_reason, ""
        if proposal.child_code is None:
            return CallOutcome.REJECTED, proposal.reject_reason, ""
        digest = code_hash(proposal.child_code, self.problem.language)
        if digest in self.hashes:
            return CallOutcome.DUPLICATE, "the child is identical to a program already in this run", digest
        return CallOutcome.CHILD, proposal.reject_reason, digest

    def _novelty(self, proposal: Proposal, verdict: Verdict | None) -> Novelty | None:
        return self.search.check_novelty(proposal, verdict, lambda program_id: self.views.one(program_id).code)

    def _store_child(
        self, proposal: Proposal, code: str, digest: str, call_id: int, novelty: Novelty | None
    ) -> EvalTicket:
        parent = self.views.one(proposal.parent_id)
        generation = self.generations.get(proposal.parent_id, 0) + 1
        diff = unified_diff(parent.code, code)
        hints = self.hints.taken(proposal.iteration)  # the hints its prompt showed
        program_id = write_child(self.writer, proposal, code, digest, generation, diff, call_id, hints)
        self.history.note_child(
            program_id, proposal.parent_id, parent.score, proposal.idea or "", proposal.mutation, diff
        )
        self.hashes.add(digest)
        self.generations[program_id] = generation
        self.search.child_stored(program_id, proposal, novelty)
        if proposal.embedding is not None and self.search.embedding_model is not None:
            self.writer.add_embedding(program_id, self.search.embedding_model, proposal.embedding)
        return EvalTicket(program_id, code, proposal.iteration, proposal.island)

    def _rejected(self, proposal: Proposal, outcome: CallOutcome, reason: str | None) -> None:
        self.last_failure[proposal.island] = f"Your edit was rejected: {reason}"
        if outcome in (CallOutcome.REJECTED, CallOutcome.DUPLICATE):
            self.history.note_rejected(
                proposal.iteration,
                proposal.island,
                proposal.parent_id,
                proposal.mutation,
                proposal.answer or "",
                reason or "",
            )

    # ---- results ------------------------------------------------------------------------

    def submit_result(self, ticket: EvalTicket, outcome: EvalOutcome) -> Progress:
        cell = None
        if outcome.ok:
            values = feature_values(self.axes, ticket.code, outcome.metrics, self.problem.initial_code)
            cell = cell_of(self.axes, values)
        with self.writer.transaction():  # the evaluation and all it changes: one commit
            evaluation_id = self.writer.record_evaluation(ticket.program_id, outcome, cell)
            self.history.note_evaluated(ticket.program_id, ticket.iteration, ticket.island, outcome)
            self._place(ticket, outcome, cell)
            if ticket.iteration > 0 and self.migrate_here:
                self._migrate_islands()
            if ticket.iteration == 0:
                if outcome.ok and outcome.score is not None:
                    self._seed_search(ticket)
            else:  # rewards, repairs, patience; then perhaps resets
                decision = self.search.evaluated(ticket, outcome, self.population)
                self.progress = replace(self.progress, since_best=decision.since_best)
                if decision.check_resets:
                    self._check_resets(evaluation_id)
        p = self.progress
        if ticket.iteration > 0:
            p = replace(p, completed=p.completed + 1, evaluated=p.evaluated + 1, failed=p.failed + (not outcome.ok))
        self.progress = replace(
            self._with_best(p),
            last_event=(
                f"#{ticket.iteration} score {outcome.score:.6g}"
                if outcome.ok
                else f"#{ticket.iteration} failed: {outcome.reason[:80]}"
            ),
        )
        return self.progress

    def submit_results(self, items: list[tuple[EvalTicket, EvalOutcome]]) -> Progress:
        with self.writer.transaction():
            for ticket, outcome in items:
                self.submit_result(ticket, outcome)
        return self.progress

    def _place(self, ticket: EvalTicket, outcome: EvalOutcome, cell: tuple[int, ...] | None) -> None:
        """An evaluated program into its island (every owned island: the initial one), or its
        failure into the next prompt of its island."""
        if not (outcome.ok and outcome.score is not None and cell is not None):
            detail = f"\nEvaluator feedback: {outcome.feedback}" if outcome.feedback else ""
            self.last_failure[ticket.island] = f"The last program failed its evaluation: {outcome.reason}{detail}"
            return
        generation = self.generations.get(ticket.program_id, 0)
        member = self.population.member(ticket.program_id, outcome.score, cell, generation, outcome.metrics)
        if ticket.iteration == 0:
            self.population.seed_all(member, self.owned)
            new_best = True
        else:
            new_best = self.population.add(ticket.island, member)
        # A shard's new best is the run's only when it beats what every shard stored.
        if new_best and self.writer.offer_best(ticket.program_id, outcome.score):
            self.writer.add_event(
                NewBestPayload(ticket.program_id, outcome.score),
                f"new best {outcome.score:.6g} (program {ticket.program_id})",
            )
        self.last_failure.pop(ticket.island, None)

    def _migrate_islands(self) -> None:
        """Ring migration among this actor's islands, every `migration_interval` evaluated children."""
        self.evaluated_since_migration += 1
        if self.evaluated_since_migration < self.migration_interval:
            return
        self.evaluated_since_migration = 0
        moves = self.population.migrate(self.migration_count)
        if moves:
            self.writer.add_event(MigrationPayload(tuple(moves)), f"ring migration: {len(moves)} programs moved")
            self.search.migrated(moves)

    def _check_resets(self, evaluation_id: int) -> None:
        """Wipe the stagnant islands the search picks, each restarted from a survivor's best."""
        reset = self.search.reset_plan(island_bests(self.population, self.owned), evaluation_id)
        if reset:
            members = {m.id: m for isl in self.population.islands for m in isl.by_id.values()}
            seeds = dict(reset.seeds)
            for island in reset.wiped:
                self.search.reset_island(island, seeds[island])
                self.population.wipe(island, members[seeds[island]])
                self.last_failure.pop(island, None)
            described = ", ".join(f"island {i} from program {pid}" for i, pid in reset.seeds)
            self.writer.add_event(
                ResetPayload(reset.wiped, reset.seeds, evaluation_id),
                f"island reset: {len(reset.wiped)} stagnant islands wiped and reseeded ({described})",
            )
        self.search.checked(island_bests(self.population, self.owned))

    def _seed_search(self, ticket: EvalTicket) -> None:
        """The initial program, evaluated: the search's first parent (best-of-n) and novelty seed."""
        vector = None
        embedded = self.search.initial_embedding(ticket.code)  # with embeddings: one call, before any task
        if embedded is not None:
            vector = embedded.vector
            model = self.search.embedding_model
            if vector is not None and model and self.shard.home:  # every shard seeds with it; the home shard stores it
                self.writer.add_embedding(ticket.program_id, model, vector)
                self.progress = replace(self.progress, cost=self.progress.cost + embedded.cost)
            else:
                log.warning("no embedding for the initial program: %s", embedded.error)
        initial = self.population.islands[self.owned[0]].by_id.get(ticket.program_id)  # island 0 unsharded
        self.search.seeded(ticket, initial, vector, len(self.population.islands))

    def _with_best(self, progress: Progress) -> Progress:
        best = self.population.best
        return replace(progress, best_score=best.score if best else None, best_id=best.id if best else None)

    def seed_initial(self, ticket: EvalTicket, outcome: EvalOutcome) -> Progress:
        """The home shard recorded the initial program's evaluation; this shard's islands start
        from it too (nothing is written: the row is the home shard's)."""
        if not (outcome.ok and outcome.score is not None):
            return self.progress
        values = feature_values(self.axes, ticket.code, outcome.metrics, self.problem.initial_code)
        cell = cell_of(self.axes, values)
        member = self.population.member(ticket.program_id, outcome.score, cell, 0, outcome.metrics)
        self.population.seed_all(member, self.owned)
        self.hashes.add(code_hash(ticket.code, self.problem.language))
        self._seed_search(ticket)  # seeds novelty and best-of-n's parent
        self.progress = self._with_best(self.progress)
        return self.progress

    # ---- ring migration across shards ---------------------------------------------------

    def emigrants(self, count: int) -> list[Emigrant]:
        """Each owned island's best `count`, bound for the next island (owned by the next shard)."""
        return [Emigrant(src, dst, member) for src, dst, member in self.population.leaving(self.owned, count)]

    def immigrate(self, *batches: list[Emigrant]) -> int:
        """Take the emigrants bound for this shard's islands (every shard's list comes to every
        shard); one MIGRATION event records the moves, which a resume replays. Returns how many."""
        moves = [
            e
            for batch in batches
            for e in batch
            if self.shard.owns(e.dst) and e.member.id not in self.population.islands[e.dst].by_id
        ]
        if not moves:
            return 0
        for e in moves:
            self.population.add(e.dst, e.member)
            self.generations.setdefault(e.member.id, e.member.generation)
            self.search.immigrated(e.dst, e.member.id, lambda program_id: self.views.one(program_id).code)
        self.writer.add_event(
            MigrationPayload(tuple((e.src, e.dst, e.member.id) for e in moves)),
            f"ring migration: {len(moves)} programs moved",
        )
        self.progress = self._with_best(self.progress)
        return len(moves)

    def holdings(self) -> dict[int, list[int]]:
        """Each owned island's member ids, in order of arrival (what a check compares on resume)."""
        return {i: list(self.population.islands[i].members) for i in self.owned}

    # ---- run-level rows (the home shard) ------------------------------------------------

    def heartbeat(self) -> None:
        self.writer.heartbeat()

    def insight_context(self) -> InsightContext:
        p = self.progress
        return self.run_insight_context(p.evaluated, p.failed, p.rejected)

    def run_insight_context(self, evaluated: int, failed: int, rejected: int) -> InsightContext:
        """The insight call's context: the store is the run's, the counts the caller's (sharded:
        the coordinator's)."""
        return self.history.insight_context(seed=self.seed, evaluated=evaluated, failed=failed, rejected=rejected)

    def add_insight(self, insight: Insight) -> Progress:
        """Store the scratchpad (or the failed call); its cost is the run's."""
        write_insight(self.writer, insight)
        self.history.note_insight(insight)
        self.progress = replace(self.progress, cost=self.progress.cost + insight.usage.cost)
        return self.progress

    def add_event(self, payload: EventPayload, message: str) -> None:
        """An event the driver saw (a pause for broken machinery, its end)."""
        self.writer.add_event(payload, message)

    # ---- repeat_best: the top programs measured again (evolve/engine/repeat.py) ------------

    def top_programs(self, top: int) -> list[Contender]:
        """This actor's `top` best programs, best first, then the initial program; with their code."""
        initial = read_initial(self.engine, self.run_id)
        initial_id = initial.id if initial is not None else None
        best = top_members(self.population, top, initial_id)
        code = read_codes(self.engine, [m.id for m in best])
        return [Contender(m.id, code[m.id], m.score, initial=m.id == initial_id) for m in best]

    def record_repeats(self, repeats: list[Repeats]) -> Repeats | None:
        """Record every repeat and set the best by median (see evolve/engine/repeat.py)."""
        cells = read_cells(self.engine, [r.program_id for r in repeats])
        chosen = record_repeats(self.writer, self.population, cells, repeats)
        if chosen is not None and chosen.median is not None:
            self.progress = replace(self.progress, best_score=chosen.median, best_id=chosen.program_id)
        return chosen

    # ---- the end ------------------------------------------------------------------------

    def record_heldout(self, program_id: int, outcome: EvalOutcome) -> None:
        self.writer.record_heldout(program_id, outcome)

    def best_program(self) -> BestProgram | None:
        best = self.population.best
        return read_best_program(self.engine, self.run_id, best.id) if best is not None else None

    def program(self, program_id: int) -> BestProgram:
        return read_best_program(self.engine, self.run_id, program_id)

    def finish(self, reason: StopReason) -> Progress:
        self.writer.finish(reason)
        return self.progress

    def close(self) -> None:
        """Let go of the database (a test reopening it; the actor's end)."""
        self.writer.close()
        self.engine.dispose()
