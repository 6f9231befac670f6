"""Opening a run for a population actor, and resuming one: everything a resumed actor rebuilds
from the store alone, in one place.

A resume reads its run once (`read_snapshot`) and rebuilds, in order: the shard's islands from
the programs and the migrations; its counts and cost; the search's bandits; the island resets
replayed; the repair queues; the patience count; the novelty index. The home shard opens (or
resumes) the run; every other shard rebuilds its islands from what the home shard opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy.engine import Engine

from evolve.engine.options import Progress
from evolve.engine.population_values import code_hash
from evolve.engine.run_search import RunSearch, island_bests
from evolve.errors import RunError
from evolve.kinds import CallOutcome, Mutation, ProgramStatus
from evolve.population import Member, Population
from evolve.population.shard_spec import ShardSpec
from evolve.problem import Problem
from evolve.search.novelty import Signature
from evolve.search.repair import Broken, error_text, fixable
from evolve.store import RunConfig, RunWriter, find_run
from evolve.store.events import MigrationPayload, ResetPayload
from evolve.store.population_reads import (
    RunSnapshot,
    StoredEvent,
    StoredProgram,
    read_codes,
    read_embeddings,
    read_snapshot,
)

EVALUATED = (ProgramStatus.OK, ProgramStatus.FAILED)


@dataclass(frozen=True)
class RunOpening:
    """What a population actor opens a run with (a new run: nothing but the initial program)."""

    writer: RunWriter
    hashes: frozenset[str] = frozenset()  # code hashes a child may not repeat
    generations: dict[int, int] = field(default_factory=dict)  # program id -> generation
    next_iteration: int = 1
    progress: Progress = field(default_factory=Progress)


@dataclass(frozen=True)
class RunStart:
    """How a run is started or resumed (the run row's fields)."""

    name: str
    config: RunConfig
    seed: int
    sandbox: str
    mutator: str
    iterations: int | None
    resume: bool


def open_run(
    engine: Engine, start: RunStart, problem: Problem, shard: ShardSpec, population: Population, search: RunSearch
) -> RunOpening:
    """Start the run (the home shard), or resume it: `population` and `search` rebuilt from the store."""
    run_id = find_run(engine, start.name)
    if not shard.home:  # the home shard opened (or resumed) the run: rebuild this one's islands
        if run_id is None:
            raise RunError(f"run {start.name!r} is not in this database (its home shard opens it)")
        return rebuild(engine, RunWriter(engine, run_id), shard, population, search)
    if run_id is not None and not start.resume:
        raise RunError(f"run {start.name!r} already exists in this database (use --resume)")
    if run_id is None:
        initial_hash = code_hash(problem.initial_code, problem.language)
        writer = RunWriter.start_run(
            engine,
            name=start.name,
            problem=problem.name,
            problem_path=str(problem.root),
            config=start.config,
            seed=start.seed,
            sandbox=start.sandbox,
            mutator=start.mutator,
            iterations_target=start.iterations,
            initial_code=problem.initial_code,
            initial_hash=initial_hash,
        )
        return RunOpening(writer, frozenset({initial_hash}))
    writer = RunWriter(engine, run_id)
    # The options this resume runs with are kept, so the next resume keeps them too.
    writer.resume(start.config, start.iterations)
    return rebuild(engine, writer, shard, population, search)


def rebuild(
    engine: Engine, writer: RunWriter, shard: ShardSpec, population: Population, search: RunSearch
) -> RunOpening:
    snapshot = read_snapshot(engine, writer.run_id)
    opening = _rebuild_islands(snapshot, writer, shard, population)
    _rebuild_search(snapshot, shard, population, search)
    if search.novelty is not None:
        _rebuild_novelty(engine, writer.run_id, population, search)
    return replace(opening, progress=replace(opening.progress, since_best=search.since_best))


def _rebuild_islands(snapshot: RunSnapshot, writer: RunWriter, shard: ShardSpec, population: Population) -> RunOpening:
    """The shard's islands from the programs and the migrations; its counts and cost."""
    hashes: set[str] = set()
    generations: dict[int, int] = {}
    evaluated = failed = max_iteration = 0
    sharded = shard.count > 1
    owned = shard.islands(len(population.islands))
    members: dict[int, Member] = {}  # sharded: every program, for immigrants from other shards
    # In the order their results arrived (the evaluation rows' order), as the live run added them:
    # of two programs with one score, the first to arrive keeps the cell and the run's best.
    arrived = sorted(snapshot.programs, key=lambda p: (p.iteration != 0, snapshot.evaluations.get(p.id, 0), p.id))
    for r in arrived:
        # An interrupted child may be proposed and run again. Every shard knows the initial program.
        if r.status in EVALUATED or (sharded and r.iteration == 0):
            hashes.add(r.code_hash)
        generations[r.id] = r.generation
        max_iteration = max(max_iteration, r.iteration)
        if r.status == ProgramStatus.OK and r.score is not None:
            member = population.member(r.id, r.score, r.cell, r.generation, r.metrics)
            if sharded:
                members[r.id] = member
            if r.iteration == 0:
                population.seed_all(member, owned)
            elif shard.owns(r.island):
                population.add(r.island, member)
        if r.iteration > 0 and r.status in EVALUATED and shard.owns(r.island):
            evaluated += 1
            failed += r.status == ProgramStatus.FAILED
    for m in snapshot.events:
        if not isinstance(m.payload, MigrationPayload):
            continue
        for src, dst, mid in m.payload.moves:
            if not shard.owns(dst):
                continue
            moved = population.islands[src].by_id.get(mid) or members.get(mid)
            if moved is not None:
                population.islands[dst].add(moved)
    calls = [c for c in snapshot.calls if shard.owns(c.island)]
    # An answer that was sent back is not its iteration's outcome: the last answer is.
    rejected = sum(1 for c in calls if c.outcome != CallOutcome.CHILD and not c.retried)
    max_iteration = max([max_iteration, *(c.iteration for c in calls)])  # sharded: this shard's calls
    best = population.best
    progress = Progress(
        completed=evaluated + rejected,
        evaluated=evaluated,
        failed=failed,
        rejected=rejected,
        best_score=best.score if best else None,
        best_id=best.id if best else None,
        cost=sum(c.cost for c in calls),
    )
    return RunOpening(writer, frozenset(hashes), generations, max_iteration + 1, progress)


def _rebuild_search(snapshot: RunSnapshot, shard: ShardSpec, population: Population, search: RunSearch) -> None:
    """The bandits, the resets replayed, the repair queues, the patience count, the bests at the
    last reset check."""
    for pull in snapshot.pulls:
        if pull.finished:
            search.adaptive.replay(pull.model, pull.kind, pull.cost, pull.gain, pull.call_failed, pull.iteration)
    programs, evaluations = snapshot.programs, snapshot.evaluations
    by_id = {p.id: p for p in programs}
    initial = next((p for p in programs if p.iteration == 0), None)
    if initial is not None:
        search.initial = population.islands[0].by_id.get(initial.id) or next(
            (isl.by_id[initial.id] for isl in population.islands if initial.id in isl.by_id), None
        )
    _replay_resets(snapshot.events, shard, population, by_id, evaluations)
    if search.strategy.uses_population:
        _rebuild_repairs(snapshot, population, by_id, search)
    best = population.best
    search.best_score = best.score if best else None
    best_evaluation = evaluations.get(best.id, 0) if best else 0
    search.since_best = sum(
        1 for p in programs if p.iteration > 0 and evaluations.get(p.id, 0) > best_evaluation and p.status in EVALUATED
    )
    evaluated = sum(1 for p in programs if p.iteration > 0 and p.status in EVALUATED and shard.owns(p.island))
    if search.reset_interval > 0:
        search.evaluated_since_check = evaluated % search.reset_interval
    # The bests at the last check are not stored: a resumed run's next check compares with the
    # bests at resume (no island is called stagnant for the time before the resume).
    search.checked(island_bests(population, shard.islands(len(population.islands))))


def _replay_resets(
    events: tuple[StoredEvent, ...],
    shard: ShardSpec,
    population: Population,
    by_id: dict[int, StoredProgram],
    evaluations: dict[int, int],
) -> None:
    """An island reset last at event R holds its founder, the programs of its own evaluated
    after R, and what migrated into it after R (a founder may have migrated on since)."""
    last: dict[int, tuple[int, ResetPayload]] = {}  # island -> its last reset's event id and payload
    for e in events:
        if isinstance(e.payload, ResetPayload):
            for island in e.payload.islands:
                if shard.owns(island):  # another shard's reset is its own to replay
                    last[island] = (e.id, e.payload)
    if not last:
        return
    islands = population.islands
    members = {m.id: m for isl in islands for m in isl.by_id.values()}
    for island, (_, reset) in last.items():
        founder_id = dict(reset.seeds).get(island)
        founder = members.get(founder_id) if founder_id is not None else None
        if island >= len(islands) or founder is None:
            continue
        after = reset.after_evaluation
        natives = [
            m
            for m in islands[island].by_id.values()
            if by_id.get(m.id) is not None and by_id[m.id].island == island and evaluations.get(m.id, 0) > after
        ]
        population.wipe(island, founder)
        for m in sorted(natives, key=lambda m: m.id):
            islands[island].add(m)
    for e in events:
        if not isinstance(e.payload, MigrationPayload):
            continue
        for _, dst, mid in e.payload.moves:
            after_reset = last.get(dst)
            if (
                mid in members
                and dst < len(islands)
                and shard.owns(dst)
                and (after_reset is None or e.id > after_reset[0])
            ):
                islands[dst].add(members[mid])


def _rebuild_repairs(
    snapshot: RunSnapshot, population: Population, by_id: dict[int, StoredProgram], search: RunSearch
) -> None:
    """Failed children not yet sent to a fix, not wiped by a reset since, in the repair queues."""
    repaired = {p.parent_id for p in snapshot.programs if p.mutation == Mutation.FIX}
    wiped_after: dict[int, int] = {}
    for e in snapshot.events:
        if isinstance(e.payload, ResetPayload):
            for island in e.payload.islands:
                wiped_after[island] = e.payload.after_evaluation
    for p in snapshot.programs:
        if p.status != ProgramStatus.FAILED or p.iteration == 0 or not fixable(p.failure_kind):
            continue
        if p.id in repaired:
            search.adaptive.repairs.mark_sent(p.id)
            continue
        if snapshot.evaluations.get(p.id, 0) <= wiped_after.get(p.island, 0) or p.island >= len(population.islands):
            continue
        parent = by_id.get(p.parent_id) if p.parent_id is not None else None
        if parent is None or parent.score is None:
            continue
        broken = Broken(parent.score, p.id, p.island, error_text(p.error, p.feedback))
        search.adaptive.repairs.offer(broken, None)


def _rebuild_novelty(engine: Engine, run_id: int, population: Population, search: RunSearch) -> None:
    assert search.novelty is not None
    wanted = sorted({mid for isl in population.islands for mid in isl.by_id})
    vectors = read_embeddings(engine, run_id, search.embedding_model) if search.embedding_model is not None else {}
    signatures: dict[int, Signature] = {
        program_id: search.signature(code, vectors.get(program_id))
        for program_id, code in read_codes(engine, wanted).items()
    }
    for isl in population.islands:
        for mid in isl.by_id:
            if mid in signatures:
                search.novelty.add(isl.index, mid, signatures[mid])
