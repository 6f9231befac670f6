"""The population actor's adaptive search: the glue between `PopulationDB` (its population, its
store writer, its program views) and the pure parts in `evolve/search/`.

`PopulationDB` calls it at five points: `plan` (a new task: which model, which kind, which second
parent or failed program), `check_novelty` and `child_stored` (a proposal's admission),
`proposal_ended` (what the model calls led to), `evaluated` (a result: rewards, repairs, resets,
patience), and `rebuild` (a resumed run, from the store alone). See docs/search.md.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from evolve.kinds import CallOutcome, EvaluationKind, EventKind, Mutation, ProgramStatus
from evolve.mutate.propose import Proposal
from evolve.population import Member
from evolve.problem import Problem
from evolve.sandbox.base import EvalOutcome
from evolve.search.adaptive import AdaptiveSearch, Plan, SearchSettings
from evolve.search.judge import JudgeRequest, Verdict
from evolve.search.novelty import NoveltyIndex, Signature, embedding_signature, local_signature
from evolve.search.repair import Broken, error_text, fixable
from evolve.search.resets import IslandBest, plan_reset
from evolve.search.strategy import Strategy
from evolve.store import Evaluation, Event, Program, RunConfig
from evolve.store.models import Embedding
from evolve.store.pulls import read_pulls

if TYPE_CHECKING:
    from evolve.engine.population_db import EvalTicket, PopulationDB

log = logging.getLogger(__name__)
CHUNK = 500


@dataclass(frozen=True)
class Novelty:
    """A child's novelty check: its signature, and the verdict so far."""

    signature: Signature | None
    reason: str | None = None  # set: a near-duplicate, rejected for this reason
    judge: JudgeRequest | None = None  # set: the judge decides before anything is stored


class RunSearch:
    def __init__(self, problem: Problem, run_config: RunConfig, seed: int):
        config = problem.config
        islands = config.population.islands
        models = tuple((str(m["name"]), float(m.get("weight", 1.0))) for m in run_config.models)
        self.strategy = Strategy(run_config.options.get("strategy") or Strategy.EVOLVE)
        self.settings = SearchSettings.from_config(config, models, self.strategy)
        self.adaptive = AdaptiveSearch(self.settings, islands)
        nov = config.novelty
        # Only model-written children: the offline mutator's one-token perturbations are near
        # copies by construction (and `random` and `best-of-n` keep no population to compare with).
        on = nov.enabled and self.strategy.uses_population and bool(self.settings.models)
        self.novelty = NoveltyIndex(islands, nov.threshold) if on else None
        self.embedding_model = nov.embedding_model if on else None
        self.embedding_api_base = nov.api_base
        self.judge = nov.judge if on else None
        self.shingle = nov.shingle
        self.language = problem.language
        self.elite_pool = config.population.elite_pool
        self.reset_interval = config.population.reset_interval if self.strategy.uses_population else 0
        self.seed = seed
        self.initial: Member | None = None
        self.best_score: float | None = None
        self.since_best = 0
        self.evaluated_since_check = 0
        self.previous_bests: dict[int, float | None] = {}

    # ---- a new task ---------------------------------------------------------------------

    def plan(
        self, db: PopulationDB, iteration: int, island: int, parent: Member, inspirations: list[Member], rng
    ) -> tuple[Member, list[Member], Plan]:
        if not self.strategy.uses_population and self.initial is not None:
            parent, inspirations = self.initial, []  # best-of-n: every child from the initial program alone
        return parent, inspirations, self.adaptive.plan(iteration, island, parent, db.population, rng)

    def task_fields(self, db: PopulationDB, plan: Plan) -> dict[str, Any]:
        """The MutationTask fields of a plan (model, kind, second parent, the program to repair)."""
        fields: dict[str, Any] = {"model": plan.model, "mutation": plan.kind}
        if plan.second_parent is not None:
            fields["second_parent"] = db._views([plan.second_parent.id])[plan.second_parent.id]
        if plan.repair is not None:
            fields["repair"] = db._views([plan.repair.program_id])[plan.repair.program_id]
            fields["repair_error"] = plan.repair.error
        return fields

    # ---- a proposal's admission -----------------------------------------------------------

    def _signature(self, code: str, embedding: tuple[float, ...] | None) -> Signature:
        if embedding is not None:
            return embedding_signature(embedding)
        return local_signature(code, self.language, self.shingle)

    def check_novelty(self, db: PopulationDB, proposal: Proposal, verdict: Verdict | None) -> Novelty | None:
        """None: no novelty rejection in this run. A child whose embedding call failed is compared
        by the local measure (against the members that have one)."""
        if self.novelty is None or proposal.child_code is None:
            return None
        sig = self._signature(proposal.child_code, proposal.embedding)
        exclude = frozenset({proposal.parent_id}) if proposal.mutation == Mutation.FIX else frozenset()
        match = self.novelty.near_duplicate(proposal.island, sig, exclude)
        if match is None:
            return Novelty(sig)
        if self.judge is not None and verdict is None:
            neighbour = db._views([match.program_id])[match.program_id]
            request = JudgeRequest(
                proposal.iteration,
                proposal.island,
                proposal.child_code,
                match.program_id,
                neighbour.code,
                match.similarity,
            )
            return Novelty(sig, judge=request)
        if verdict is not None and not verdict.near_duplicate:
            return Novelty(sig)
        reason = (
            f"the child is a near-duplicate of program {match.program_id} "
            f"(similarity {match.similarity:.3f} >= {self.novelty.threshold:g})"
        )
        if verdict is not None:
            reason += f"; the judge ({verdict.model}): {verdict.reason}"
        return Novelty(sig, reason=reason + ": try a change that differs in substance")

    def store_verdict(self, db: PopulationDB, proposal: Proposal, verdict: Verdict) -> None:
        """The judge's call is a row of its own (not the iteration's outcome: `retried` is set)."""
        db.writer.add_call(
            iteration=proposal.iteration,
            model=verdict.model,
            mutation="judge",
            prompt=verdict.prompt,
            answer=verdict.answer,
            prompt_tokens=verdict.prompt_tokens,
            completion_tokens=verdict.completion_tokens,
            cost=verdict.cost,
            latency=verdict.latency,
            attempts=verdict.attempts,
            error=verdict.error,
            outcome=CallOutcome.JUDGE,
            reject_reason=("near-duplicate: " if verdict.near_duplicate else "novel: ") + verdict.reason,
            parent_id=proposal.parent_id,
            island=proposal.island,
            attempt=0,
            retried=True,
        )

    def child_stored(self, db: PopulationDB, program_id: int, proposal: Proposal, novelty: Novelty | None) -> None:
        if self.novelty is not None and novelty is not None and novelty.signature is not None:
            self.novelty.add(proposal.island, program_id, novelty.signature)  # pending children count too
        if proposal.embedding is not None and self.embedding_model is not None:
            db.writer.add_embedding(program_id, self.embedding_model, proposal.embedding)

    def proposal_ended(self, proposal: Proposal, has_child: bool, extra_cost: float = 0.0) -> None:
        self.adaptive.proposal_ended(
            proposal.iteration,
            proposal.model,
            proposal.mutation,
            proposal.total_cost + extra_cost,
            proposal.error is not None,
            has_child,
        )

    # ---- a result -----------------------------------------------------------------------

    def evaluated(self, db: PopulationDB, ticket: EvalTicket, outcome: EvalOutcome, evaluation_id: int) -> None:
        ok = outcome.ok and outcome.score is not None
        if ticket.iteration == 0:
            if ok:
                self._seeded(db, ticket)
            return
        score = outcome.score if ok else None
        pull = self.adaptive.pulls.get(ticket.iteration)
        self.adaptive.evaluated(ticket.iteration, score)
        if score is not None and (self.best_score is None or score > self.best_score):
            self.best_score, self.since_best = score, 0
        else:
            self.since_best += 1
        if not ok:
            if self.novelty is not None:
                self.novelty.remove(ticket.island, ticket.program_id)
            baseline = pull.baseline if pull is not None else None
            if fixable(outcome.kind) and baseline is not None and self.strategy.uses_population:
                error = error_text(outcome.reason, outcome.feedback, outcome.logs)
                broken = Broken(baseline, ticket.program_id, ticket.island, error)
                self.adaptive.repairs.offer(broken, self._elite_floor(db, ticket.island))
        db.progress = replace(db.progress, since_best=self.since_best)
        self._maybe_reset(db, evaluation_id)

    def _seeded(self, db: PopulationDB, ticket: EvalTicket) -> None:
        """The initial program: every island's first member, and best-of-n's only parent."""
        self.initial = db.population.islands[db.owned[0]].by_id.get(ticket.program_id)  # island 0 unsharded
        self.best_score = self.initial.score if self.initial is not None else None
        if self.novelty is None:
            return
        vector = None
        if self.embedding_model is not None:  # one call, before any task: the actor may wait for it
            from evolve.mutate.llm import embed

            result = embed(self.embedding_model, ticket.code, self.embedding_api_base)
            vector = result.vector
            if vector is not None and db.shard.home:  # every shard seeds with it; the home shard stores it
                db.writer.add_embedding(ticket.program_id, self.embedding_model, vector)
                db.progress = replace(db.progress, cost=db.progress.cost + result.cost)
            else:
                log.warning("no embedding for the initial program: %s", result.error)
        sig = self._signature(ticket.code, vector)
        for island in range(len(db.population.islands)):
            self.novelty.add(island, ticket.program_id, sig)

    def _elite_floor(self, db: PopulationDB, island: int) -> float | None:
        ranked = db.population.islands[island].ranked
        return -ranked[min(len(ranked), self.elite_pool) - 1][0] if ranked else None

    def migrated(self, moves: list[tuple[int, int, int]]) -> None:
        if self.novelty is None:
            return
        for _, dst, mid in moves:
            sig = self.novelty.signature(mid)
            if sig is not None:
                self.novelty.add(dst, mid, sig)

    def _bests(self, db: PopulationDB) -> list[IslandBest]:
        """The islands this shard owns (all of them in an unsharded run): resets are per shard."""
        out = []
        for isl in (db.population.islands[i] for i in db.owned):
            best = isl.best()
            out.append(IslandBest(isl.index, best.id if best else None, best.score if best else None))
        return out

    def _maybe_reset(self, db: PopulationDB, evaluation_id: int) -> None:
        if self.reset_interval <= 0 or len(db.population.islands) < 2:
            return
        self.evaluated_since_check += 1
        if self.evaluated_since_check < self.reset_interval:
            return
        self.evaluated_since_check = 0
        bests = self._bests(db)
        rng = random.Random(self.seed * 31_337 + evaluation_id)
        reset = plan_reset(bests, self.previous_bests, rng)
        if reset:
            self.apply_reset(db, reset.wiped, dict(reset.seeds))
            seeds = ", ".join(f"island {i} from program {pid}" for i, pid in reset.seeds)
            db.writer.add_event(
                EventKind.RESET,
                f"island reset: {len(reset.wiped)} stagnant islands wiped and reseeded ({seeds})",
                {
                    "islands": list(reset.wiped),
                    "seeds": [list(s) for s in reset.seeds],
                    "after_evaluation": evaluation_id,
                },
            )
        self.previous_bests = {b.island: b.score for b in self._bests(db)}

    def apply_reset(self, db: PopulationDB, wiped: tuple[int, ...] | list[int], seeds: dict[int, int]) -> None:
        members = {m.id: m for isl in db.population.islands for m in isl.by_id.values()}
        for island in wiped:
            founder = members[seeds[island]]
            sig = self.novelty.signature(founder.id) if self.novelty is not None else None
            db.population.wipe(island, founder)
            self.adaptive.repairs.wipe(island)
            db.last_failure.pop(island, None)
            if self.novelty is not None:
                self.novelty.wipe(island)
                if sig is not None:
                    self.novelty.add(island, founder.id, sig)

    # ---- a resumed run --------------------------------------------------------------------

    def rebuild(self, db: PopulationDB, run_id: int) -> None:
        """After PopulationDB rebuilt its islands from programs and migrations: the resets replayed,
        the bandits, rested models and repair queues, the novelty index, the patience count."""
        with db.engine.connect() as conn:
            pulls = read_pulls(conn, run_id)
            evaluations = dict(
                conn.execute(
                    select(Evaluation.program_id, func.max(Evaluation.id))
                    .where(Evaluation.run_id == run_id, Evaluation.kind == EvaluationKind.TRAIN)
                    .group_by(Evaluation.program_id)
                ).all()
            )
            events = conn.execute(
                select(Event.id, Event.kind, Event.data)
                .where(Event.run_id == run_id, Event.kind.in_((EventKind.RESET, EventKind.MIGRATION)))
                .order_by(Event.id)
            ).all()
            programs = conn.execute(
                select(
                    Program.id,
                    Program.island,
                    Program.iteration,
                    Program.status,
                    Program.score,
                    Program.parent_id,
                    Program.mutation,
                    Program.failure_kind,
                    func.substr(Program.error, 1, 2000).label("error"),
                    Program.feedback,
                ).where(Program.run_id == run_id)
            ).all()
        for pull in pulls:
            if pull.finished:
                self.adaptive.replay(pull.model, pull.kind, pull.cost, pull.gain, pull.call_failed, pull.iteration)
        by_id = {p.id: p for p in programs}
        initial = next((p for p in programs if p.iteration == 0), None)
        if initial is not None:
            self.initial = db.population.islands[0].by_id.get(initial.id) or next(
                (isl.by_id[initial.id] for isl in db.population.islands if initial.id in isl.by_id), None
            )
        self._replay_resets(db, events, by_id, evaluations)
        self._rebuild_repairs(db, programs, by_id, events, evaluations)
        best = db.population.best
        self.best_score = best.score if best else None
        best_evaluation = evaluations.get(best.id, 0) if best else 0
        self.since_best = sum(
            1
            for p in programs
            if p.iteration > 0
            and evaluations.get(p.id, 0) > best_evaluation
            and p.status in (ProgramStatus.OK, ProgramStatus.FAILED)
        )
        evaluated = sum(
            1
            for p in programs
            if p.iteration > 0 and p.status in (ProgramStatus.OK, ProgramStatus.FAILED) and db.shard.owns(p.island)
        )
        if self.reset_interval > 0:
            self.evaluated_since_check = evaluated % self.reset_interval
        # The bests at the last check are not stored: a resumed run's next check compares with the
        # bests at resume (no island is called stagnant for the time before the resume).
        self.previous_bests = {b.island: b.score for b in self._bests(db)}
        db.progress = replace(db.progress, since_best=self.since_best)
        if self.novelty is not None:
            self._rebuild_novelty(db, run_id)

    def _replay_resets(self, db: PopulationDB, events, by_id: dict, evaluations: dict[int, int]) -> None:
        """An island reset last at event R holds its founder, the programs of its own evaluated
        after R, and what migrated into it after R (a founder may have migrated on since)."""
        last: dict[int, Any] = {}
        for e in events:
            if e.kind == EventKind.RESET:
                for island in e.data.get("islands", []):
                    if db.shard.owns(int(island)):  # another shard's reset is its own to replay
                        last[int(island)] = e
        if not last:
            return
        islands = db.population.islands
        members = {m.id: m for isl in islands for m in isl.by_id.values()}
        for island, reset in last.items():
            founder_id = {int(i): int(p) for i, p in reset.data.get("seeds", [])}.get(island)
            founder = members.get(founder_id) if founder_id is not None else None
            if island >= len(islands) or founder is None:
                continue
            after = int(reset.data.get("after_evaluation", 0))
            natives = [
                m
                for m in islands[island].by_id.values()
                if by_id.get(m.id) is not None and by_id[m.id].island == island and evaluations.get(m.id, 0) > after
            ]
            db.population.wipe(island, founder)
            for m in sorted(natives, key=lambda m: m.id):
                islands[island].add(m)
        for e in events:
            if e.kind != EventKind.MIGRATION:
                continue
            for _, dst, mid in e.data.get("moves", []):
                reset = last.get(dst)
                if mid in members and dst < len(islands) and db.shard.owns(dst) and (reset is None or e.id > reset.id):
                    islands[dst].add(members[mid])

    def _rebuild_repairs(self, db: PopulationDB, programs, by_id: dict, events, evaluations: dict[int, int]) -> None:
        if not self.strategy.uses_population:
            return
        repaired = {p.parent_id for p in programs if p.mutation == Mutation.FIX}
        wiped_after: dict[int, int] = {}
        for e in events:
            if e.kind == EventKind.RESET:
                for island in e.data.get("islands", []):
                    wiped_after[int(island)] = int(e.data.get("after_evaluation", 0))
        for p in programs:
            if p.status != ProgramStatus.FAILED or p.iteration == 0 or not fixable(p.failure_kind):
                continue
            if p.id in repaired:
                self.adaptive.repairs.mark_sent(p.id)
                continue
            if evaluations.get(p.id, 0) <= wiped_after.get(p.island, 0) or p.island >= len(db.population.islands):
                continue
            parent = by_id.get(p.parent_id)
            if parent is None or parent.score is None:
                continue
            broken = Broken(parent.score, p.id, p.island, error_text(p.error or "", p.feedback or ""))
            self.adaptive.repairs.offer(broken, None)

    def _rebuild_novelty(self, db: PopulationDB, run_id: int) -> None:
        assert self.novelty is not None
        wanted = sorted({mid for isl in db.population.islands for mid in isl.by_id})
        vectors: dict[int, list[float]] = {}
        signatures: dict[int, Signature] = {}
        with db.engine.connect() as conn:
            if self.embedding_model is not None:
                for row in conn.execute(
                    select(Embedding.program_id, Embedding.vector).where(
                        Embedding.run_id == run_id, Embedding.model == self.embedding_model
                    )
                ):
                    vectors[row.program_id] = row.vector
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                for row in conn.execute(select(Program.id, Program.code).where(Program.id.in_(chunk))):
                    vector = vectors.get(row.id)
                    signatures[row.id] = self._signature(row.code, tuple(vector) if vector else None)
        for isl in db.population.islands:
            for mid in isl.by_id:
                if mid in signatures:
                    self.novelty.add(isl.index, mid, signatures[mid])

    # ---- what `evolve show` reads ------------------------------------------------------------

    def arms(self) -> dict[str, list]:
        return self.adaptive.arms()
