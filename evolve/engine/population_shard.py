"""A population shard: `PopulationDB` with the batched calls and the cross-shard migration that
the coordinator (evolve/engine/shards.py) uses. With one shard it is today's population actor,
plus batches.

A batch is one transaction: the store commits once for it, and commits before the method returns,
so whatever the driver does with the answer is already in the store (a killed run resumes from it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from evolve.engine.options import Progress
from evolve.engine.population_db import Admission, EvalTicket, PopulationDB, StartInfo, code_hash
from evolve.kinds import EventKind
from evolve.mutate.insight import InsightContext
from evolve.mutate.propose import MutationTask, Proposal
from evolve.population import Member, cell_of, feature_values
from evolve.sandbox.base import EvalOutcome
from evolve.search.judge import Verdict
from evolve.store import BestProgram, read_best_program


@dataclass(frozen=True)
class Emigrant:
    """A program leaving island `src` for island `dst` (ring migration), as the receiving shard,
    which has never seen it, needs it."""

    src: int
    dst: int
    member: Member


@dataclass(frozen=True)
class ShardStart:
    info: StartInfo
    next_iteration: int  # one past the highest iteration this shard found in the store


class PopulationShard(PopulationDB):
    def start_shard(self) -> ShardStart:
        return ShardStart(self.start(), self.next_iteration)

    # ---- batches: one commit each ---------------------------------------------------------

    def next_tasks(self, iterations: list[int]) -> list[MutationTask]:
        return [self.next_task(i) for i in iterations]

    def submit_proposals(self, items: list[tuple[Proposal, Verdict | None]]) -> list[Admission]:
        with self.writer.transaction():
            return [self.submit_proposal(proposal, verdict) for proposal, verdict in items]

    def submit_results(self, items: list[tuple[EvalTicket, EvalOutcome]]) -> Progress:
        with self.writer.transaction():
            for ticket, outcome in items:
                self.submit_result(ticket, outcome)
        return self.progress

    # ---- the initial program on a shard that did not record it ----------------------------

    def seed_initial(self, ticket: EvalTicket, outcome: EvalOutcome) -> Progress:
        """The home shard recorded the initial program's evaluation; this shard's islands start
        from it too (nothing is written: the row is the home shard's)."""
        if not (outcome.ok and outcome.score is not None):
            return self.progress
        values = feature_values(self.axes, ticket.code, outcome.metrics, self.problem.initial_code)
        member = Member(ticket.program_id, outcome.score, cell_of(self.axes, values), 0)
        self.population.seed_all(member, self.owned)
        self.hashes.add(code_hash(ticket.code, self.problem.language))
        self.search.evaluated(self, ticket, outcome, 0)  # iteration 0: seeds novelty and best-of-n's parent
        best = self.population.best
        self.progress = replace(
            self.progress, best_score=best.score if best else None, best_id=best.id if best else None
        )
        return self.progress

    # ---- ring migration across shards ---------------------------------------------------

    def emigrants(self, count: int) -> list[Emigrant]:
        """Each owned island's best `count`, bound for the next island (owned by the next shard)."""
        n = len(self.population.islands)
        if n < 2 or count == 0:
            return []
        out: list[Emigrant] = []
        for i in self.owned:
            isl = self.population.islands[i]
            out.extend(Emigrant(i, (i + 1) % n, isl.by_id[mid]) for _, mid in isl.ranked[:count])
        return out

    def immigrate(self, *batches: list[Emigrant]) -> int:
        """Take the emigrants bound for this shard's islands (every shard's list comes to every
        shard); one MIGRATION event records the moves, which a resume replays. Returns how many."""
        moves = []
        for batch in batches:
            for e in batch:
                if self.shard.owns(e.dst) and e.member.id not in self.population.islands[e.dst].by_id:
                    moves.append(e)
        if not moves:
            return 0
        novelty = self.search.novelty
        for e in moves:
            self.population.add(e.dst, e.member)
            self.generations.setdefault(e.member.id, e.member.generation)
            if novelty is not None:  # a signature from another shard is not here: make it
                sig = novelty.signature(e.member.id)
                if sig is None:
                    sig = self.search._signature(self._views([e.member.id])[e.member.id].code, None)
                novelty.add(e.dst, e.member.id, sig)
        self.writer.add_event(
            EventKind.MIGRATION,
            f"ring migration: {len(moves)} programs moved",
            {"moves": [[e.src, e.dst, e.member.id] for e in moves]},
        )
        best = self.population.best
        self.progress = replace(
            self.progress, best_score=best.score if best else None, best_id=best.id if best else None
        )
        return len(moves)

    # ---- run-level reads with the run's figures (the home shard) ---------------------------

    def run_insight_context(self, evaluated: int, failed: int, rejected: int) -> InsightContext:
        """The insight call's context: the store is the run's, the counts the coordinator's."""
        return self.history.insight_context(seed=self.seed, evaluated=evaluated, failed=failed, rejected=rejected)

    def holdings(self) -> dict[int, list[int]]:
        """Each owned island's member ids, in order of arrival (what a check compares on resume)."""
        return {i: list(self.population.islands[i].members) for i in self.owned}

    def program(self, program_id: int) -> BestProgram:
        return read_best_program(self.engine, self.run_id, program_id)
