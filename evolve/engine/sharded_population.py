"""The population over several actors: a coordinator in the driver's process that routes each
call to the shard owning the island, numbers iterations for the whole run, migrates across
shards and merges the shards' progress into the run's.

Each shard (a `PopulationActor`, evolve/engine/population_actor.py) owns islands i with i % shards == its index: their
selection, admissions, store writer. Across shards:

- iterations: numbered here, unique in the run; island = iteration % islands, as unsharded.
- the run's best: each shard offers its own with a conditional UPDATE (it only rises), and the
  merged progress takes the highest; the NEW_BEST event is written by the shard that raised it.
- migration: every `migration_interval` evaluated children, each shard's islands send their best
  `migration_count` to the next island (the next shard); the receiving shard records the moves as
  a MIGRATION event, which every shard replays on resume.
- patience (`since_best`): run-wide, counted here from the shards' figures.
- per shard, by design: duplicate detection (a child identical to a program of another shard's
  islands is evaluated: at most one copy per shard; a resumed shard knows the whole run's),
  bandits (each learns from its islands' calls; a resumed shard replays the whole run's),
  novelty (per island already), island resets (among a shard's own islands), repair queues.
- run-level rows (start, resume, heartbeat, events, insights, held-out scores, the end): the
  home shard (index 0). Insights read the whole run from the store.

With one shard every call goes straight to it and its progress is the run's: today's behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, cast

from evolve.engine.options import Progress
from evolve.engine.population_values import ShardStart, StartInfo
from evolve.engine.tickets import EvalTicket
from evolve.mutate.propose import Proposal
from evolve.population.shard_spec import ShardSpec, owner
from evolve.problem import PopulationConfig
from evolve.sandbox.base import EvalOutcome
from evolve.stop_reason import StopReason
from evolve.store import BestProgram
from evolve.store.events import EventPayload

Ref = Any  # a Ray ObjectRef
ShardFactory = Callable[[ShardSpec], Any]  # a shard's spec -> its actor handle


class ShardedPopulation:
    def __init__(self, shards: Sequence[Any], config: PopulationConfig, starts: Sequence[ShardStart]):
        self.shards = list(shards)
        self.islands = config.islands
        self.migration_interval = config.migration_interval
        self.migration_count = config.migration_count
        self.next_iteration = max(s.next_iteration for s in starts)
        self.evaluated_since_migration = 0  # as unsharded: counted from the resume, not stored
        self._snapshots = [s.info.progress for s in starts]
        self._seq = [0] * len(self.shards)  # per shard: the latest call's number, and the newest merged
        self._merged_seq = [0] * len(self.shards)
        self._refs: dict[Ref, tuple[int, int]] = {}
        self._latest = 0
        best = self._best_snapshot()
        self._best = best.best_score if best is not None else None
        evaluated = sum(p.evaluated for p in self._snapshots)
        # A resumed shard counts the whole run's evaluations since its own best: the best one's is the run's.
        self._evaluated_at_best = evaluated - (best.since_best if best is not None else evaluated)
        self._pinned: tuple[float, int] | None = None  # repeat_best's winner: the run's best, set at the end
        self.start_info = StartInfo(starts[0].info.initial_ticket, self.merged)

    @classmethod
    def open(cls, config: PopulationConfig, make_shard: ShardFactory) -> ShardedPopulation:
        """Start the shards: the home shard opens (or resumes) the run first, then the others
        rebuild their islands from the store, in parallel. A shard's constructor error comes
        out of here (as the unsharded actor's came out of its `start`)."""
        import ray

        count = config.shards
        home = make_shard(ShardSpec(0, count))
        first = ray.get(home.start_shard.remote())
        others = [make_shard(ShardSpec(i, count)) for i in range(1, count)]
        rest = ray.get([s.start_shard.remote() for s in others])
        return cls([home, *others], config, [first, *rest])

    # ---- routing ------------------------------------------------------------------------

    def shard_of(self, island: int) -> int:
        return owner(island, len(self.shards))

    def _track(self, shard: int, ref: Ref) -> Ref:
        self._seq[shard] += 1
        self._refs[ref] = (shard, self._seq[shard])
        return ref

    def _number(self, k: int) -> dict[int, list[int]]:
        by_shard: dict[int, list[int]] = {}
        for _ in range(k):
            iteration = self.next_iteration
            self.next_iteration += 1
            by_shard.setdefault(self.shard_of(iteration % self.islands), []).append(iteration)
        return by_shard

    def next_task(self) -> Ref:
        """-> MutationTask, from the shard owning the next iteration's island."""
        ((shard, [iteration]),) = self._number(1).items()
        return self.shards[shard].next_task.remote(iteration)

    def claim_iterations(self, count: int) -> list[int]:
        """Number `count` iterations whose tasks were made in the driver (a new run's first
        proposals, evolve/engine/first_proposals.py), as `next_task` would have."""
        first = self.next_iteration
        self.next_iteration += count
        return list(range(first, first + count))

    def next_tasks(self, k: int) -> list[Ref]:
        """The next `k` iterations' tasks: one ref per shard involved, each -> list[MutationTask]."""
        return [self.shards[s].next_tasks.remote(its) for s, its in self._number(k).items()]

    def submit_proposal(self, proposal: Proposal, verdict: Any = None) -> Ref:
        """-> Admission (its progress: pass it to `progress(ref, ...)`). `verdict`: a Verdict or its ref."""
        shard = self.shard_of(proposal.island)
        return self._track(shard, self.shards[shard].submit_proposal.remote(proposal, verdict))

    def submit_proposals(self, items: Sequence[tuple[Proposal, Any]]) -> list[Ref]:
        """One ref per shard involved, each -> list[Admission] in the order of that shard's items
        (one commit per shard); `progress(ref, admissions[-1].progress)` merges."""
        by_shard: dict[int, list[tuple[Proposal, Any]]] = {}
        for proposal, verdict in items:
            by_shard.setdefault(self.shard_of(proposal.island), []).append((proposal, verdict))
        return [self._track(s, self.shards[s].submit_proposals.remote(batch)) for s, batch in by_shard.items()]

    def submit_result(self, ticket: EvalTicket, outcome: EvalOutcome) -> Ref:
        """-> Progress (the shard's: pass it to `progress`). The initial program's result goes to
        the home shard, which records it; every other shard seeds its islands from it."""
        if ticket.iteration == 0:
            for shard in self.shards[1:]:
                shard.seed_initial.remote(ticket, outcome)  # before any later call to that shard
            return self._track(0, self.shards[0].submit_result.remote(ticket, outcome))
        shard = self.shard_of(ticket.island)
        ref = self._track(shard, self.shards[shard].submit_result.remote(ticket, outcome))
        self._evaluated(1)
        return ref

    def submit_results(self, items: Sequence[tuple[EvalTicket, EvalOutcome]]) -> list[Ref]:
        """One ref per shard involved, each -> Progress, after one commit on that shard."""
        refs = []
        for ticket, outcome in items:
            if ticket.iteration == 0:
                refs.append(self.submit_result(ticket, outcome))
        by_shard: dict[int, list[tuple[EvalTicket, EvalOutcome]]] = {}
        for ticket, outcome in items:
            if ticket.iteration > 0:
                by_shard.setdefault(self.shard_of(ticket.island), []).append((ticket, outcome))
        refs += [self._track(s, self.shards[s].submit_results.remote(batch)) for s, batch in by_shard.items()]
        self._evaluated(sum(len(b) for b in by_shard.values()))
        return refs

    # ---- migration across shards ----------------------------------------------------------

    def _evaluated(self, n: int) -> None:
        if len(self.shards) == 1:
            return  # the only shard migrates its own islands, as unsharded
        self.evaluated_since_migration += n
        if self.evaluated_since_migration >= self.migration_interval:
            self.evaluated_since_migration = 0
            self.migrate()

    def migrate(self) -> list[Ref]:
        """Ring migration across shards, without waiting here: every shard's emigrants (refs) go
        to every shard, which takes those bound for its islands. -> one ref per shard: int moved."""
        outgoing = [s.emigrants.remote(self.migration_count) for s in self.shards]
        return [s.immigrate.remote(*outgoing) for s in self.shards]

    # ---- progress -----------------------------------------------------------------------

    def progress(self, ref: Ref, shard_progress: Progress) -> Progress:
        """The run's progress, given what a tracked call returned: counts and cost summed over
        the shards' latest figures, the best the highest, patience run-wide."""
        shard, seq = self._refs.pop(ref, (0, 0))
        if seq >= self._merged_seq[shard]:  # an older answer of a shard, read late, changes nothing
            self._merged_seq[shard] = seq
            self._snapshots[shard] = shard_progress
            self._latest = shard
        return self._pin(shard_progress if len(self.shards) == 1 else self._merge())

    def _best_snapshot(self) -> Progress | None:
        scored = [p for p in self._snapshots if p.best_score is not None]
        # Of equal scores the older program, as within a shard (population/islands.py, outranks).
        return max(scored, key=lambda p: (p.best_score or 0.0, -(p.best_id or 0))) if scored else None

    def _merge(self) -> Progress:
        snaps = self._snapshots
        evaluated = sum(p.evaluated for p in snaps)
        best = self._best_snapshot()
        if best is not None and best.best_score is not None and (self._best is None or best.best_score > self._best):
            # The best shard's `since_best` counts its own evaluations after its best.
            self._best, self._evaluated_at_best = best.best_score, evaluated - best.since_best
        latest = snaps[self._latest]
        return Progress(
            completed=sum(p.completed for p in snaps),
            evaluated=evaluated,
            failed=sum(p.failed for p in snaps),
            rejected=sum(p.rejected for p in snaps),
            best_score=best.best_score if best is not None else None,
            best_id=best.best_id if best is not None else None,
            cost=sum(p.cost for p in snaps),
            last_event=latest.last_event,
            since_best=max(0, evaluated - self._evaluated_at_best),
        )

    @property
    def merged(self) -> Progress:
        return self._pin(self._merge() if len(self.shards) > 1 else self._snapshots[0])

    def _pin(self, progress: Progress) -> Progress:
        if self._pinned is None:
            return progress
        score, program_id = self._pinned
        return replace(progress, best_score=score, best_id=program_id)

    # ---- run-level calls: the home shard ---------------------------------------------------

    def heartbeat(self) -> Ref:
        return self.shards[0].heartbeat.remote()

    def add_event(self, payload: EventPayload, message: str) -> Ref:
        return self.shards[0].add_event.remote(payload, message)

    def insight_context(self) -> Ref:
        """-> InsightContext, with the run's counts."""
        if len(self.shards) == 1:
            return self.shards[0].insight_context.remote()
        p = self._merge()
        return self.shards[0].run_insight_context.remote(p.evaluated, p.failed, p.rejected)

    def add_insight(self, insight: Any) -> Ref:
        """-> Progress (pass it to `progress`). `insight`: an Insight or its ref."""
        return self._track(0, self.shards[0].add_insight.remote(insight))

    def record_heldout(self, program_id: int, outcome: EvalOutcome) -> Ref:
        return self.shards[0].record_heldout.remote(program_id, outcome)

    def best_program(self) -> BestProgram | None:
        import ray

        best = self.merged
        return ray.get(self.shards[0].program.remote(best.best_id)) if best.best_id is not None else None

    def finish(self, reason: StopReason) -> Progress:
        """Ends the run (after every call already sent to any shard: they are waited for first)."""
        import ray

        ray.get([s.heartbeat.remote() for s in self.shards[1:]])  # each shard's queue drained
        ref = self._track(0, self.shards[0].finish.remote(reason))
        p = cast(Progress, ray.get(ref))
        return self.progress(ref, p)

    def pin_best(self, program_id: int, score: float) -> None:
        """The run's best from now on, whatever the shards hold (repeat_best's median winner)."""
        self._pinned = (score, program_id)

    def kill(self) -> None:
        """End every shard's actor (the run's end, or a start that failed)."""
        import ray

        for shard in self.shards:
            ray.kill(shard)

    def close(self) -> None:
        import ray

        ray.get([s.close.remote() for s in self.shards])
