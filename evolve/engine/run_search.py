"""The run's adaptive search, as the population actor uses it: the glue between the actor and the
pure parts in `evolve/search/` (bandits, novelty, repairs, island resets).

It takes values (a proposal, a result, the population to read) and returns decisions (a plan, a
novelty verdict, a reset plan, the patience count); the actor applies them to its population and
writes them to the store. It keeps the search's own state: the bandits, the novelty index, the
repair queues, the bests at the last reset check. The actor calls it at these points: `plan` (a
new task: which model, which kind, which second parent or failed program), `check_novelty` and
`child_stored` (a proposal's admission), `proposal_ended` (what the model calls led to),
`seeded` (the initial program), `evaluated` then `reset_plan` (a result: rewards, repairs,
patience, resets). A resume restores it from the store (evolve/engine/population_resume.py).
See docs/search.md.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from evolve.engine.tickets import EvalTicket
from evolve.kinds import Mutation
from evolve.mutate.llm import Embedded
from evolve.mutate.propose import Proposal
from evolve.population import Member, Population
from evolve.problem import Problem
from evolve.sandbox.base import EvalOutcome
from evolve.search.adaptive import AdaptiveSearch, Plan, SearchSettings
from evolve.search.judge import JudgeRequest, Verdict
from evolve.search.novelty import NoveltyIndex, Signature, embedding_signature, local_signature
from evolve.search.repair import Broken, error_text, fixable
from evolve.search.resets import IslandBest, ResetPlan, plan_reset
from evolve.search.strategy import Strategy
from evolve.store import RunConfig


@dataclass(frozen=True)
class Novelty:
    """A child's novelty check: its signature, and the verdict so far."""

    signature: Signature | None
    reason: str | None = None  # set: a near-duplicate, rejected for this reason
    judge: JudgeRequest | None = None  # set: the judge decides before anything is stored


@dataclass(frozen=True)
class Evaluated:
    """What a child's result decided: the patience count, and whether resets are due a check."""

    since_best: int
    check_resets: bool


def island_bests(population: Population, owned: tuple[int, ...]) -> list[IslandBest]:
    """The islands a shard owns (all of them in an unsharded run): resets are per shard."""
    out = []
    for isl in (population.islands[i] for i in owned):
        best = isl.best()
        out.append(IslandBest(isl.index, best.id if best else None, best.score if best else None))
    return out


class RunSearch:
    def __init__(self, problem: Problem, run_config: RunConfig, seed: int):
        config = problem.config
        islands = config.population.islands
        models = tuple((m.name, m.weight) for m in run_config.models)
        self.strategy = Strategy(run_config.options.strategy or Strategy.EVOLVE)
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
        self,
        iteration: int,
        island: int,
        parent: Member,
        inspirations: list[Member],
        population: Population,
        rng: random.Random,
    ) -> tuple[Member, list[Member], Plan]:
        if not self.strategy.uses_population and self.initial is not None:
            parent, inspirations = self.initial, []  # best-of-n: every child from the initial program alone
        return parent, inspirations, self.adaptive.plan(iteration, island, parent, population, rng)

    # ---- a proposal's admission -----------------------------------------------------------

    def signature(self, code: str, embedding: tuple[float, ...] | None) -> Signature:
        if embedding is not None:
            return embedding_signature(embedding)
        return local_signature(code, self.language, self.shingle)

    def check_novelty(
        self, proposal: Proposal, verdict: Verdict | None, code_of: Callable[[int], str]
    ) -> Novelty | None:
        """None: no novelty rejection in this run. A child whose embedding call failed is compared
        by the local measure (against the members that have one). `code_of`: a program's code (the
        judge is shown the near neighbour)."""
        if self.novelty is None or proposal.child_code is None:
            return None
        sig = self.signature(proposal.child_code, proposal.embedding)
        exclude = frozenset({proposal.parent_id}) if proposal.mutation == Mutation.FIX else frozenset()
        match = self.novelty.near_duplicate(proposal.island, sig, exclude)
        if match is None:
            return Novelty(sig)
        if self.judge is not None and verdict is None:
            request = JudgeRequest(
                proposal.iteration,
                proposal.island,
                proposal.child_code,
                match.program_id,
                code_of(match.program_id),
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

    def initial_embedding(self, code: str) -> Embedded | None:
        """The initial program's embedding (None: novelty compares no embeddings). A model call:
        the actor waits for it, once, before any task."""
        if self.novelty is None or self.embedding_model is None:
            return None
        from evolve.mutate.llm import embed

        return embed(self.embedding_model, code, self.embedding_api_base)

    def child_stored(self, program_id: int, proposal: Proposal, novelty: Novelty | None) -> None:
        if self.novelty is not None and novelty is not None and novelty.signature is not None:
            self.novelty.add(proposal.island, program_id, novelty.signature)  # pending children count too

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

    def seeded(
        self, ticket: EvalTicket, initial: Member | None, embedding: tuple[float, ...] | None, islands: int
    ) -> None:
        """The initial program (`initial`: as the population holds it): every island's first
        member, and best-of-n's only parent."""
        self.initial = initial
        self.best_score = initial.score if initial is not None else None
        if self.novelty is None:
            return
        sig = self.signature(ticket.code, embedding)
        for island in range(islands):
            self.novelty.add(island, ticket.program_id, sig)

    def evaluated(self, ticket: EvalTicket, outcome: EvalOutcome, population: Population) -> Evaluated:
        """A child's result (iteration > 0): rewards, the repair queue, the patience count."""
        ok = outcome.ok and outcome.score is not None
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
                self.adaptive.repairs.offer(broken, self._elite_floor(population, ticket.island))
        return Evaluated(self.since_best, self._reset_check_due(len(population.islands)))

    def _elite_floor(self, population: Population, island: int) -> float | None:
        ranked = population.islands[island].ranked
        return -ranked[min(len(ranked), self.elite_pool) - 1][0] if ranked else None

    def immigrated(self, island: int, program_id: int, code_of: Callable[[int], str]) -> None:
        """A program from another shard's island: a signature from another shard is not here, make it."""
        if self.novelty is None:
            return
        sig = self.novelty.signature(program_id)
        if sig is None:
            sig = self.signature(code_of(program_id), None)
        self.novelty.add(island, program_id, sig)

    def migrated(self, moves: list[tuple[int, int, int]]) -> None:
        if self.novelty is None:
            return
        for _, dst, mid in moves:
            sig = self.novelty.signature(mid)
            if sig is not None:
                self.novelty.add(dst, mid, sig)

    # ---- island resets ------------------------------------------------------------------

    def _reset_check_due(self, islands: int) -> bool:
        if self.reset_interval <= 0 or islands < 2:
            return False
        self.evaluated_since_check += 1
        if self.evaluated_since_check < self.reset_interval:
            return False
        self.evaluated_since_check = 0
        return True

    def reset_plan(self, bests: list[IslandBest], evaluation_id: int) -> ResetPlan:
        """Which stagnant islands to wipe, and which program each restarts from (the actor applies
        it, then calls `reset_island` for each wiped island and `checked` with the new bests)."""
        rng = random.Random(self.seed * 31_337 + evaluation_id)
        return plan_reset(bests, self.previous_bests, rng)

    def reset_island(self, island: int, founder_id: int) -> None:
        """Island `island` restarts from `founder_id`: its repairs and novelty index go with it."""
        sig = self.novelty.signature(founder_id) if self.novelty is not None else None
        self.adaptive.repairs.wipe(island)
        if self.novelty is not None:
            self.novelty.wipe(island)
            if sig is not None:
                self.novelty.add(island, founder_id, sig)

    def checked(self, bests: list[IslandBest]) -> None:
        """The bests a reset check saw (after its resets): the next check compares with them."""
        self.previous_bests = {b.island: b.score for b in bests}
