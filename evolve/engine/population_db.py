"""The population database: the in-memory population over the store; hands out tasks.

In a run it lives in Ray actors: one by default, the only writer, or one per population shard
(`[population] shards`), each owning the islands `ShardSpec` gives it, with its own writer
(evolve/engine/shards.py coordinates them). Mutators and evaluators anywhere in the cluster send
it plain values. It writes through the store's `RunWriter`, and every result is committed before
anything acts on it, so a killed run resumes from the database alone.
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict
from dataclasses import dataclass, replace

from sqlalchemy import select

from evolve.edit import canonical_form, unified_diff
from evolve.engine.adaptive import RunSearch
from evolve.engine.options import Progress
from evolve.engine.tickets import EvalTicket
from evolve.errors import RunError
from evolve.kinds import CallOutcome, EventKind, ProgramStatus, RunStatus
from evolve.mutate.insight import Insight, InsightContext
from evolve.mutate.memory import CellAxis, Coordinates, Memory
from evolve.mutate.propose import OFFLINE_MODEL, MutationTask, Proposal
from evolve.mutate.views import ProgramView
from evolve.population import Member, Population, SelectionPolicy, axes_for, cell_of, feature_values
from evolve.population.shard import UNSHARDED, ShardSpec
from evolve.problem import Problem
from evolve.sandbox.base import EvalOutcome
from evolve.search.judge import JudgeRequest, Verdict
from evolve.store import (
    BestProgram,
    Event,
    LLMCall,
    Program,
    RunConfig,
    RunWriter,
    find_run,
    open_engine,
    read_best_program,
    session_factory,
)
from evolve.store.history import RunHistory

CODE_CACHE = 256
EVALUATED = (ProgramStatus.OK, ProgramStatus.FAILED)


def code_hash(code: str, language: str = "text") -> str:
    """Equal for programs that differ only in what `canonical_form` ignores (comments, layout)."""
    return hashlib.sha256(canonical_form(code, language).encode()).hexdigest()


@dataclass(frozen=True)
class Admission:
    ticket: EvalTicket | None
    progress: Progress
    judge: JudgeRequest | None = None  # a near-duplicate the novelty judge decides on: nothing stored yet


@dataclass(frozen=True)
class StartInfo:
    initial_ticket: EvalTicket | None  # the initial program, when it still needs an evaluation
    progress: Progress


class PopulationDB:
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
        self.policy = SelectionPolicy(pop.exploration, pop.exploitation, pop.elite_pool, pop.inspirations)
        self.population = Population(pop.islands, self.policy)
        self.migration_interval = pop.migration_interval
        self.migration_count = pop.migration_count
        self.seed = seed
        self.rng = random.Random(seed)
        self.hashes: set[str] = set()
        self.last_failure: dict[int, str] = {}
        self.code_cache: OrderedDict[int, ProgramView] = OrderedDict()
        self.next_iteration = 1
        self.evaluated_since_migration = 0
        self.progress = Progress()
        self.generations: dict[int, int] = {}
        self.search = RunSearch(problem, run_config, seed)  # bandits, novelty, repairs, resets
        self.writer = self._open_run(run_name, run_config, seed, sandbox, mutator, iterations, resume)
        self.run_id = self.writer.run_id
        self.run_name = run_name
        # What prompts remember (none for the offline mutator, which reads no prompt).
        self.prompt = problem.config.prompt
        self.remember = mutator != OFFLINE_MODEL and self.search.strategy.uses_population  # best-of-n: none
        self.cell_axes = tuple(CellAxis(a.name, a.min, a.max, a.bins) for a in self.axes)
        self.history = RunHistory(self.engine, self.run_id)
        self.history.load(pop.islands)
        if shard.home:  # insights are the run's, written and counted by the home shard alone
            self.progress = replace(self.progress, cost=self.progress.cost + self.history.insight_cost)

    # ---- start and resume -------------------------------------------------------------

    def _open_run(
        self, name: str, config: RunConfig, seed: int, sandbox: str, mutator: str, iterations: int | None, resume: bool
    ) -> RunWriter:
        run_id = find_run(self.engine, name)
        if not self.shard.home:  # the home shard opened (or resumed) the run: rebuild this one's islands
            if run_id is None:
                raise RunError(f"run {name!r} is not in this database (its home shard opens it)")
            self._rebuild(run_id)
            return RunWriter(self.engine, run_id)
        if run_id is not None and not resume:
            raise RunError(f"run {name!r} already exists in this database (use --resume)")
        if run_id is None:
            initial_hash = code_hash(self.problem.initial_code, self.problem.language)
            self.hashes.add(initial_hash)
            return RunWriter.start_run(
                self.engine,
                name=name,
                problem=self.problem.name,
                problem_path=str(self.problem.root),
                config=config,
                seed=seed,
                sandbox=sandbox,
                mutator=mutator,
                iterations_target=iterations,
                initial_code=self.problem.initial_code,
                initial_hash=initial_hash,
            )
        writer = RunWriter(self.engine, run_id)
        # The options this resume runs with are kept, so the next resume keeps them too.
        writer.resume(config, iterations)
        self._rebuild(run_id)
        return writer

    def _rebuild(self, run_id: int) -> None:
        with self.Session() as s:
            rows = s.execute(
                select(
                    Program.id,
                    Program.score,
                    Program.cell,
                    Program.generation,
                    Program.island,
                    Program.iteration,
                    Program.code_hash,
                    Program.status,
                )
                .where(Program.run_id == run_id)
                .order_by(Program.id)
            ).all()
            calls = s.execute(
                select(LLMCall.outcome, LLMCall.cost, LLMCall.iteration, LLMCall.retried, LLMCall.island).where(
                    LLMCall.run_id == run_id
                )
            ).all()
            migrations = s.scalars(
                select(Event).where(Event.run_id == run_id, Event.kind == EventKind.MIGRATION).order_by(Event.id)
            ).all()
        evaluated = failed = 0
        max_iteration = 0
        sharded = self.shard.count > 1
        members: dict[int, Member] = {}  # sharded: every program, for immigrants from other shards
        for r in rows:
            # An interrupted child may be proposed and run again. Every shard knows the initial program.
            if r.status in EVALUATED or (sharded and r.iteration == 0):
                self.hashes.add(r.code_hash)
            self.generations[r.id] = r.generation
            max_iteration = max(max_iteration, r.iteration)
            if r.status == ProgramStatus.OK and r.score is not None:
                member = Member(r.id, r.score, tuple(r.cell or ()), r.generation)
                if sharded:
                    members[r.id] = member
                if r.iteration == 0:
                    self.population.seed_all(member, self.owned)
                elif self.shard.owns(r.island):
                    self.population.add(r.island, member)
            if r.iteration > 0 and r.status in EVALUATED and self.shard.owns(r.island):
                evaluated += 1
                failed += r.status == ProgramStatus.FAILED
        for m in migrations:
            for src, dst, mid in m.data.get("moves", []):
                if not self.shard.owns(dst):
                    continue
                moved = self.population.islands[src].by_id.get(mid) or members.get(mid)
                if moved is not None:
                    self.population.islands[dst].add(moved)
        calls = [c for c in calls if self.shard.owns(c.island)]
        # An answer that was sent back is not its iteration's outcome: the last answer is.
        rejected = sum(1 for c in calls if c.outcome != CallOutcome.CHILD and not c.retried)
        max_iteration = max([max_iteration, *(c.iteration for c in calls)])  # sharded: this shard's calls
        self.next_iteration = max_iteration + 1
        best = self.population.best
        self.progress = Progress(
            completed=evaluated + rejected,
            evaluated=evaluated,
            failed=failed,
            rejected=rejected,
            best_score=best.score if best else None,
            best_id=best.id if best else None,
            cost=sum(c.cost for c in calls),
        )
        self.search.rebuild(self, run_id)  # resets replayed, bandits, repairs, novelty index, patience

    def start(self) -> StartInfo:
        with self.Session() as s:
            initial = s.scalars(select(Program).where(Program.run_id == self.run_id, Program.iteration == 0)).first()
            # Pending on a new run; failed on a resume whose first try failed: evaluate it (again).
            ticket = EvalTicket(initial.id, initial.code, 0, 0) if initial.status != ProgramStatus.OK else None
        return StartInfo(ticket, self.progress)

    # ---- the hot path -------------------------------------------------------------------

    def _views(self, ids: list[int]) -> dict[int, ProgramView]:
        missing = [i for i in ids if i not in self.code_cache]
        if missing:  # Core on a pooled connection: an ORM session per miss cost more than the query
            with self.engine.connect() as conn:
                for r in conn.execute(
                    select(
                        Program.id,
                        Program.code,
                        Program.score,
                        Program.metrics,
                        Program.feedback,
                        Program.idea,
                        Program.cell,
                    ).where(Program.id.in_(missing))
                ):
                    self.code_cache[r.id] = ProgramView(
                        r.id,
                        r.code,
                        r.score,
                        r.metrics or {},
                        r.feedback or "",
                        idea=r.idea or "",
                        cell=tuple(r.cell or ()),
                    )
        out = {}
        for i in ids:
            self.code_cache.move_to_end(i)
            out[i] = self.code_cache[i]
        while len(self.code_cache) > CODE_CACHE:
            self.code_cache.popitem(last=False)
        return out

    def next_task(self, iteration: int | None = None) -> MutationTask:
        """The next iteration's task; `iteration`: the one a shard coordinator numbered (run-wide)."""
        if iteration is None:
            iteration = self.next_iteration
        self.next_iteration = max(self.next_iteration, iteration + 1)
        island = iteration % len(self.population.islands)  # round robin: no island starves
        rng = random.Random(self.seed * 7_919 + iteration)
        parent = self.population.select_parent(island, rng)
        inspirations = self.population.inspirations(island, parent, rng)
        parent, inspirations, plan = self.search.plan(self, iteration, island, parent, inspirations, rng)
        views = self._views([parent.id, *(m.id for m in inspirations)])
        return MutationTask(
            iteration=iteration,
            island=island,
            parent=views[parent.id],
            inspirations=tuple(views[m.id] for m in inspirations),
            last_failure=self.last_failure.get(island),
            seed=self.seed,
            **self.search.task_fields(self, plan),
            memory=self._memory(island, parent, rng) if self.remember else Memory(),
        )

    def _memory(self, island: int, parent: Member, rng: random.Random) -> Memory:
        """What the prompt remembers: the parent's lineage and cell, the run's best programs, elites
        of other cells of the island, what was tried from this parent or island, the insight."""
        settings = self.prompt
        ranked = sorted({entry for isl in self.population.islands for entry in isl.ranked[: settings.top + 1]})
        top = [mid for _, mid in ranked if mid != parent.id][: settings.top]
        isl, diverse = self.population.islands[island], list[int]()
        keys = isl.cell_keys
        for i in rng.sample(range(len(keys)), min(len(keys), 3 * settings.diverse)):
            elite = isl.cells[keys[i]]
            if len(diverse) < settings.diverse and elite.cell != parent.cell and elite.id not in (parent.id, *top):
                diverse.append(elite.id)
        views = self._views([*top, *diverse])
        return Memory(
            lineage=self.history.lineage(parent.id, settings.lineage),
            top=tuple(views[i] for i in top),
            diverse=tuple(views[i] for i in diverse),
            tried=self.history.tried(island, parent.id, settings.tried),
            coordinates=Coordinates(self.cell_axes, parent.cell),
            insight=self.history.latest_insight,
        )

    def submit_proposal(self, proposal: Proposal, verdict: Verdict | None = None) -> Admission:
        outcome, reason = CallOutcome.CHILD, proposal.reject_reason
        digest = ""
        if proposal.error is not None:
            outcome = CallOutcome.ERROR
        elif proposal.child_code is None:
            outcome = CallOutcome.REJECTED
        else:
            digest = code_hash(proposal.child_code, self.problem.language)
            if digest in self.hashes:
                outcome, reason = CallOutcome.DUPLICATE, "the child is identical to a program already in this run"
        novelty = self.search.check_novelty(self, proposal, verdict) if outcome == CallOutcome.CHILD else None
        if novelty is not None and novelty.judge is not None:  # the judge decides first; nothing is stored yet
            return Admission(None, self.progress, judge=novelty.judge)
        if novelty is not None and novelty.reason is not None:
            outcome, reason = CallOutcome.NEAR_DUPLICATE, novelty.reason
        ticket = None
        with self.writer.transaction():  # the calls and the child: one commit
            if verdict is not None:
                self.search.store_verdict(self, proposal, verdict)
            for number, earlier in enumerate(proposal.earlier_attempts, 1):
                self.writer.add_call(
                    iteration=proposal.iteration,
                    model=proposal.model,
                    mutation=proposal.mutation,
                    prompt=earlier.prompt,
                    answer=earlier.answer,
                    prompt_tokens=earlier.prompt_tokens,
                    completion_tokens=earlier.completion_tokens,
                    cost=earlier.cost,
                    latency=earlier.latency,
                    attempts=earlier.attempts,
                    error=None,
                    outcome=CallOutcome.REJECTED,
                    reject_reason=earlier.reject_reason,
                    parent_id=proposal.parent_id,
                    island=proposal.island,
                    answer_form=earlier.answer_form,
                    attempt=number,
                    retried=True,
                )
            call_id = self.writer.add_call(
                iteration=proposal.iteration,
                model=proposal.model,
                mutation=proposal.mutation,
                prompt=proposal.prompt,
                answer=proposal.answer,
                prompt_tokens=proposal.prompt_tokens,
                completion_tokens=proposal.completion_tokens,
                cost=proposal.cost,
                latency=proposal.latency,
                attempts=proposal.attempts,
                error=proposal.error,
                outcome=outcome,
                reject_reason=reason,
                parent_id=proposal.parent_id,
                island=proposal.island,
                answer_form=proposal.answer_form,
                attempt=len(proposal.earlier_attempts) + 1,
            )
            if outcome == CallOutcome.CHILD and proposal.child_code is not None:
                parent = self._views([proposal.parent_id])[proposal.parent_id]
                generation = self.generations.get(proposal.parent_id, 0) + 1
                diff = unified_diff(parent.code, proposal.child_code)
                program_id = self.writer.add_child(
                    code=proposal.child_code,
                    code_hash=digest,
                    parent_id=proposal.parent_id,
                    second_parent_id=proposal.second_parent_id,
                    inspiration_ids=proposal.inspiration_ids,
                    island=proposal.island,
                    generation=generation,
                    iteration=proposal.iteration,
                    mutation=proposal.mutation,
                    diff=diff,
                    llm_call_id=call_id,
                    propose_seconds=proposal.total_latency,
                    idea=proposal.idea,
                )
                self.history.note_child(
                    program_id, proposal.parent_id, parent.score, proposal.idea or "", proposal.mutation, diff
                )
                self.hashes.add(digest)
                self.generations[program_id] = generation
                self.search.child_stored(self, program_id, proposal, novelty)
                ticket = EvalTicket(program_id, proposal.child_code, proposal.iteration, proposal.island)
        judged = verdict.cost if verdict is not None else 0.0
        self.search.proposal_ended(proposal, ticket is not None, judged)
        p = replace(self.progress, cost=self.progress.cost + proposal.total_cost + judged)
        if ticket is None:
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
            p = replace(
                p,
                completed=p.completed + 1,
                rejected=p.rejected + 1,
                last_event=f"#{proposal.iteration} {outcome}: {reason}",
            )
        self.progress = p
        return Admission(ticket, p)

    def submit_result(self, ticket: EvalTicket, outcome: EvalOutcome) -> Progress:
        cell = None
        if outcome.ok:
            values = feature_values(self.axes, ticket.code, outcome.metrics, self.problem.initial_code)
            cell = cell_of(self.axes, values)
        with self.writer.transaction():  # the evaluation and all it changes: one commit
            evaluation_id = self.writer.record_evaluation(ticket.program_id, outcome, cell)
            self.history.note_evaluated(ticket.program_id, ticket.iteration, ticket.island, outcome)
            if outcome.ok and outcome.score is not None and cell is not None:
                member = Member(ticket.program_id, outcome.score, cell, self.generations.get(ticket.program_id, 0))
                if ticket.iteration == 0:
                    self.population.seed_all(member, self.owned)
                    new_best = True
                else:
                    new_best = self.population.add(ticket.island, member)
                # A shard's new best is the run's only when it beats what every shard stored.
                if new_best and self.writer.offer_best(ticket.program_id, outcome.score):
                    self.writer.add_event(
                        EventKind.NEW_BEST,
                        f"new best {outcome.score:.6g} (program {ticket.program_id})",
                        {"program_id": ticket.program_id, "score": outcome.score},
                    )
                self.last_failure.pop(ticket.island, None)
            else:
                detail = f"\nEvaluator feedback: {outcome.feedback}" if outcome.feedback else ""
                self.last_failure[ticket.island] = f"The last program failed its evaluation: {outcome.reason}{detail}"
            if ticket.iteration > 0 and self.migrate_here:
                self.evaluated_since_migration += 1
                if self.evaluated_since_migration >= self.migration_interval:
                    self.evaluated_since_migration = 0
                    moves = self.population.migrate(self.migration_count)
                    if moves:
                        self.writer.add_event(
                            EventKind.MIGRATION,
                            f"ring migration: {len(moves)} programs moved",
                            {"moves": [list(m) for m in moves]},
                        )
                        self.search.migrated(moves)
            self.search.evaluated(self, ticket, outcome, evaluation_id)  # rewards, repairs, resets, patience
        p = self.progress
        if ticket.iteration > 0:
            p = replace(p, completed=p.completed + 1, evaluated=p.evaluated + 1, failed=p.failed + (not outcome.ok))
        best = self.population.best
        self.progress = replace(
            p,
            best_score=best.score if best else None,
            best_id=best.id if best else None,
            last_event=(
                f"#{ticket.iteration} score {outcome.score:.6g}"
                if outcome.ok
                else f"#{ticket.iteration} failed: {outcome.reason[:80]}"
            ),
        )
        return self.progress

    def heartbeat(self) -> None:
        self.writer.heartbeat()

    # ---- insights (off the hot path: the driver asks every `[prompt] insight_interval`) -----

    def insight_context(self) -> InsightContext:
        p = self.progress
        return self.history.insight_context(seed=self.seed, evaluated=p.evaluated, failed=p.failed, rejected=p.rejected)

    def add_insight(self, insight: Insight) -> Progress:
        """Store the scratchpad (or the failed call); its cost is the run's."""
        self.writer.add_insight(
            iteration=insight.iteration,
            text=insight.text,
            program_ids=insight.program_ids,
            model=insight.model,
            prompt=insight.prompt,
            prompt_tokens=insight.prompt_tokens,
            completion_tokens=insight.completion_tokens,
            cost=insight.cost,
            latency=insight.latency,
            error=insight.error,
        )
        self.history.note_insight(insight)
        self.progress = replace(self.progress, cost=self.progress.cost + insight.cost)
        return self.progress

    def add_event(self, kind: EventKind, message: str, data: dict | None = None) -> None:
        """An event the driver saw (a pause for broken machinery, its end)."""
        self.writer.add_event(kind, message, data)

    # ---- the end ------------------------------------------------------------------------

    def record_heldout(self, program_id: int, outcome: EvalOutcome) -> None:
        self.writer.record_heldout(program_id, outcome)

    def best_program(self) -> BestProgram | None:
        best = self.population.best
        return read_best_program(self.engine, self.run_id, best.id) if best is not None else None

    def finish(self, status: RunStatus | str, reason: str) -> Progress:
        self.writer.finish(RunStatus(status), reason)
        return self.progress

    def close(self) -> None:
        """Let go of the database (a test reopening it; the actor's end)."""
        self.writer.close()
        self.engine.dispose()
