"""The population database: owns the store and the in-memory population, hands out tasks.

In a run it lives in one Ray actor, the only writer: mutators and evaluators anywhere in the
cluster send it plain values. Every result is committed before anything acts on it, so a killed
run resumes from the database alone.
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict
from dataclasses import dataclass, replace

from sqlalchemy import insert, select, update

from evolve.diff import canonical_form, unified_diff
from evolve.engine.options import Progress
from evolve.mutate.prompt import ProgramView
from evolve.mutate.propose import MutationTask, Proposal
from evolve.population import Member, Population, SelectionPolicy, axes_for, cell_of, feature_values
from evolve.problem import Problem
from evolve.sandbox.base import EvalOutcome
from evolve.store import Evaluation, Event, LLMCall, Program, Run, open_engine, session_factory
from evolve.store.models import utcnow

CODE_CACHE = 256


def code_hash(code: str, language: str = "text") -> str:
    """Equal for programs that differ only in what `canonical_form` ignores (comments, layout)."""
    return hashlib.sha256(canonical_form(code, language).encode()).hexdigest()


@dataclass(frozen=True)
class EvalTicket:
    program_id: int
    code: str
    iteration: int
    island: int


@dataclass(frozen=True)
class Admission:
    ticket: EvalTicket | None
    progress: Progress


@dataclass(frozen=True)
class StartInfo:
    initial_ticket: EvalTicket | None  # the initial program, when it still needs an evaluation
    progress: Progress


class PopulationDB:
    def __init__(self, db_url: str, run_name: str, problem: Problem, run_config: dict, seed: int,
                 sandbox: str, mutator: str, iterations: int | None, resume: bool):
        self.engine = open_engine(db_url)
        self.Session = session_factory(self.engine)
        self.problem = problem
        pop = problem.config.population
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
        self.run_id = self._open_run(run_name, run_config, seed, sandbox, mutator, iterations, resume)
        self.run_name = run_name
        self.conn = self.engine.connect()

    # ---- start and resume -------------------------------------------------------------

    def _open_run(self, name, config, seed, sandbox, mutator, iterations, resume) -> int:
        with self.Session.begin() as s:
            run = s.scalars(select(Run).where(Run.name == name)).first()
            if run is not None and not resume:
                raise ValueError(f"run {name!r} already exists in this database (use --resume)")
            if run is None:
                run = Run(name=name, problem=self.problem.name, problem_path=str(self.problem.root),
                          config=config, seed=seed, sandbox=sandbox, mutator=mutator,
                          iterations_target=iterations, status="running")
                s.add(run)
                s.flush()
                initial_hash = code_hash(self.problem.initial_code, self.problem.language)
                self.hashes.add(initial_hash)
                s.add(Program(run_id=run.id, code=self.problem.initial_code, code_hash=initial_hash,
                              island=0, generation=0, iteration=0, mutation="initial", status="pending"))
                s.add(Event(run_id=run.id, kind="start", message=f"run started ({mutator}, sandbox {sandbox})"))
                return run.id
            run.status = "running"
            run.config = config  # the options this resume runs with, so the next resume keeps them
            if iterations is not None:
                run.iterations_target = iterations
            s.add(Event(run_id=run.id, kind="resume", message="run resumed"))
            run_id = run.id
        self._rebuild(run_id)
        return run_id

    def _rebuild(self, run_id: int) -> None:
        with self.Session.begin() as s:
            # What was in flight when the run stopped is lost, and said so.
            s.execute(update(Program).where(Program.run_id == run_id, Program.status == "pending",
                                            Program.iteration > 0)
                      .values(status="interrupted", error="interrupted: the run stopped during its evaluation"))
            rows = s.execute(select(Program.id, Program.score, Program.cell, Program.generation, Program.island,
                                    Program.iteration, Program.code_hash, Program.status)
                             .where(Program.run_id == run_id).order_by(Program.id)).all()
            calls = s.execute(select(LLMCall.outcome, LLMCall.cost, LLMCall.iteration)
                              .where(LLMCall.run_id == run_id)).all()
            migrations = s.scalars(select(Event).where(Event.run_id == run_id, Event.kind == "migration")
                                   .order_by(Event.id)).all()
        evaluated = failed = 0
        max_iteration = 0
        for r in rows:
            if r.status in ("ok", "failed"):  # an interrupted child may be proposed and run again
                self.hashes.add(r.code_hash)
            self.generations[r.id] = r.generation
            max_iteration = max(max_iteration, r.iteration)
            if r.status == "ok" and r.score is not None:
                member = Member(r.id, r.score, tuple(r.cell or ()), r.generation)
                if r.iteration == 0:
                    self.population.seed_all(member)
                else:
                    self.population.add(r.island, member)
            if r.iteration > 0 and r.status in ("ok", "failed"):
                evaluated += 1
                failed += r.status == "failed"
        for m in migrations:
            for src, dst, mid in m.data.get("moves", []):
                member = self.population.islands[src].by_id.get(mid)
                if member is not None:
                    self.population.islands[dst].add(member)
        rejected = sum(1 for c in calls if c.outcome in ("rejected", "duplicate", "error"))
        max_iteration = max([max_iteration, *(c.iteration for c in calls)])
        self.next_iteration = max_iteration + 1
        best = self.population.best
        self.progress = Progress(completed=evaluated + rejected, evaluated=evaluated, failed=failed,
                                 rejected=rejected, best_score=best.score if best else None,
                                 best_id=best.id if best else None, cost=sum(c.cost for c in calls))

    def start(self) -> StartInfo:
        with self.Session() as s:
            initial = s.scalars(select(Program).where(Program.run_id == self.run_id, Program.iteration == 0)).first()
            # Pending on a new run; failed on a resume whose first try failed: evaluate it (again).
            ticket = EvalTicket(initial.id, initial.code, 0, 0) if initial.status != "ok" else None
        return StartInfo(ticket, self.progress)

    # ---- the hot path -------------------------------------------------------------------

    def _views(self, ids: list[int]) -> dict[int, ProgramView]:
        missing = [i for i in ids if i not in self.code_cache]
        if missing:
            with self.Session() as s:
                for r in s.execute(select(Program.id, Program.code, Program.score, Program.metrics, Program.feedback)
                                   .where(Program.id.in_(missing))):
                    self.code_cache[r.id] = ProgramView(r.id, r.code, r.score, r.metrics or {}, r.feedback or "")
        out = {}
        for i in ids:
            self.code_cache.move_to_end(i)
            out[i] = self.code_cache[i]
        while len(self.code_cache) > CODE_CACHE:
            self.code_cache.popitem(last=False)
        return out

    def next_task(self) -> MutationTask:
        iteration = self.next_iteration
        self.next_iteration += 1
        island = iteration % len(self.population.islands)  # round robin: no island starves
        rng = random.Random(self.seed * 7_919 + iteration)
        parent = self.population.select_parent(island, rng)
        inspirations = self.population.inspirations(island, parent, rng)
        views = self._views([parent.id, *(m.id for m in inspirations)])
        return MutationTask(iteration=iteration, island=island, parent=views[parent.id],
                            inspirations=tuple(views[m.id] for m in inspirations),
                            last_failure=self.last_failure.get(island), seed=self.seed)

    def submit_proposal(self, proposal: Proposal) -> Admission:
        outcome, reason = "child", proposal.reject_reason
        if proposal.error is not None:
            outcome = "error"
        elif proposal.child_code is None:
            outcome = "rejected"
        else:
            digest = code_hash(proposal.child_code, self.problem.language)
            if digest in self.hashes:
                outcome, reason = "duplicate", "the child is identical to a program already in this run"
        ticket = None
        # SQLAlchemy Core on one connection: this is the hot path, and the ORM's unit of work
        # costs more than the insert itself.
        with self.conn.begin():
            call_id = self.conn.execute(insert(LLMCall).values(
                run_id=self.run_id, iteration=proposal.iteration, model=proposal.model,
                mutation=proposal.mutation, prompt=proposal.prompt, answer=proposal.answer,
                prompt_tokens=proposal.prompt_tokens, completion_tokens=proposal.completion_tokens,
                cost=proposal.cost, latency=proposal.latency, attempts=proposal.attempts,
                error=proposal.error, outcome=outcome, reject_reason=reason,
                parent_id=proposal.parent_id, island=proposal.island, created_at=utcnow(),
            )).inserted_primary_key[0]
            if outcome == "child":
                parent = self._views([proposal.parent_id])[proposal.parent_id]
                generation = self.generations.get(proposal.parent_id, 0) + 1
                program_id = self.conn.execute(insert(Program).values(
                    run_id=self.run_id, code=proposal.child_code, code_hash=digest,
                    parent_id=proposal.parent_id, inspiration_ids=list(proposal.inspiration_ids),
                    island=proposal.island, generation=generation, iteration=proposal.iteration,
                    mutation=proposal.mutation, diff=unified_diff(parent.code, proposal.child_code),
                    status="pending", llm_call_id=call_id, propose_seconds=proposal.latency,
                    metrics={}, feedback="", created_at=utcnow(),
                )).inserted_primary_key[0]
                self.hashes.add(digest)
                self.generations[program_id] = generation
                ticket = EvalTicket(program_id, proposal.child_code, proposal.iteration, proposal.island)
        p = self.progress
        p = replace(p, cost=p.cost + proposal.cost,
                    failing_calls=p.failing_calls + 1 if outcome == "error" else 0,
                    last_call_error=proposal.error or p.last_call_error)
        if ticket is None:
            self.last_failure[proposal.island] = f"Your edit was rejected: {reason}"
            p = replace(p, completed=p.completed + 1, rejected=p.rejected + 1,
                        last_event=f"#{proposal.iteration} {outcome}: {reason}")
        self.progress = p
        return Admission(ticket, p)

    def submit_result(self, ticket: EvalTicket, outcome: EvalOutcome) -> Progress:
        cell = None
        if outcome.ok:
            values = feature_values(self.axes, ticket.code, outcome.metrics, self.problem.initial_code)
            cell = cell_of(self.axes, values)
        with self.conn.begin():
            self.conn.execute(insert(Evaluation).values(
                run_id=self.run_id, program_id=ticket.program_id, kind="train", sandbox=outcome.sandbox,
                ok=outcome.ok, score=outcome.score, exit_reason=outcome.reason, duration=outcome.duration,
                logs=outcome.logs, created_at=utcnow()))
            self.conn.execute(update(Program).where(Program.id == ticket.program_id).values(
                status="ok" if outcome.ok else "failed", score=outcome.score, metrics=outcome.metrics,
                feedback=outcome.feedback, error=None if outcome.ok else outcome.reason,
                cell=list(cell) if cell else None, eval_seconds=outcome.duration, evaluated_at=utcnow()))
            generation = self.generations.get(ticket.program_id, 0)
            new_best = False
            if outcome.ok:
                member = Member(ticket.program_id, outcome.score, cell, generation)
                if ticket.iteration == 0:
                    self.population.seed_all(member)
                    new_best = True
                else:
                    new_best = self.population.add(ticket.island, member)
                if new_best:
                    self.conn.execute(insert(Event).values(
                        run_id=self.run_id, kind="new_best", created_at=utcnow(),
                        message=f"new best {outcome.score:.6g} (program {ticket.program_id})",
                        data={"program_id": ticket.program_id, "score": outcome.score}))
                    self.conn.execute(update(Run).where(Run.id == self.run_id).values(
                        best_program_id=ticket.program_id, best_score=outcome.score, updated_at=utcnow()))
                self.last_failure.pop(ticket.island, None)
            else:
                detail = f"\nEvaluator feedback: {outcome.feedback}" if outcome.feedback else ""
                self.last_failure[ticket.island] = f"The last program failed its evaluation: {outcome.reason}{detail}"
            if ticket.iteration > 0:
                self.evaluated_since_migration += 1
                if self.evaluated_since_migration >= self.migration_interval:
                    self.evaluated_since_migration = 0
                    moves = self.population.migrate(self.migration_count)
                    if moves:
                        self.conn.execute(insert(Event).values(
                            run_id=self.run_id, kind="migration", created_at=utcnow(),
                            message=f"ring migration: {len(moves)} programs moved",
                            data={"moves": [list(m) for m in moves]}))
        p = self.progress
        if ticket.iteration > 0:
            p = replace(p, completed=p.completed + 1, evaluated=p.evaluated + 1, failed=p.failed + (not outcome.ok))
        best = self.population.best
        self.progress = replace(
            p, best_score=best.score if best else None, best_id=best.id if best else None,
            last_event=(f"#{ticket.iteration} score {outcome.score:.6g}" if outcome.ok
                        else f"#{ticket.iteration} failed: {outcome.reason[:80]}"))
        return self.progress

    # ---- the end ------------------------------------------------------------------------

    def record_heldout(self, program_id: int, outcome: EvalOutcome) -> None:
        with self.Session.begin() as s:
            s.add(Evaluation(run_id=self.run_id, program_id=program_id, kind="heldout", sandbox=outcome.sandbox,
                             ok=outcome.ok, score=outcome.score, exit_reason=outcome.reason,
                             duration=outcome.duration, logs=outcome.logs))
            score = outcome.score if outcome.ok else None
            s.execute(update(Program).where(Program.id == program_id).values(heldout_score=score))
            best_id = s.scalar(select(Run.best_program_id).where(Run.id == self.run_id))
            if best_id == program_id:
                s.execute(update(Run).where(Run.id == self.run_id).values(heldout_score=score))

    def best_program(self) -> dict | None:
        best = self.population.best
        if best is None:
            return None
        with self.Session() as s:
            row = s.get(Program, best.id)
            initial = s.scalars(select(Program).where(Program.run_id == self.run_id, Program.iteration == 0)).first()
            return {"id": row.id, "code": row.code, "score": row.score, "metrics": row.metrics,
                    "feedback": row.feedback, "iteration": row.iteration, "generation": row.generation,
                    "heldout_score": row.heldout_score, "initial_id": initial.id, "initial_score": initial.score,
                    "initial_heldout_score": initial.heldout_score}

    def add_event(self, kind: str, message: str) -> None:
        """A run event the driver reports (a pause for an infrastructure fault, its end)."""
        with self.Session.begin() as s:
            s.add(Event(run_id=self.run_id, kind=str(kind), message=message))

    def finish(self, status: str, reason: str) -> Progress:
        with self.Session.begin() as s:
            s.execute(update(Program).where(Program.run_id == self.run_id, Program.status == "pending")
                      .values(status="interrupted", error="interrupted: the run stopped during its evaluation"))
            s.execute(update(Run).where(Run.id == self.run_id).values(
                status=status, stop_reason=reason, finished_at=utcnow(), updated_at=utcnow()))
            s.add(Event(run_id=self.run_id, kind="stop", message=reason))
        return self.progress

