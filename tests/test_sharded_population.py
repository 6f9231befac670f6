"""The population sharded over real Ray actors (evolve/engine/sharded_population.py), on SQLite and on a real
PostgreSQL server: run-wide iterations, migration across shards and its replay, the run's best,
a killed run rebuilt shard by shard."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_population_actor import SETTINGS, fake_outcome
from test_postgres import postgres_url  # noqa: F401  (the fixture: a real server for this module)

from evolve.engine.population_actor import PopulationActor
from evolve.engine.sharded_population import ShardedPopulation
from evolve.errors import ProblemError
from evolve.kinds import EventKind, ProgramStatus
from evolve.mutate.propose import propose
from evolve.population.shard_spec import ShardSpec, owner
from evolve.problem import Problem, parse_config
from evolve.store import Event, LLMCall, Program, Run, RunConfig, open_engine


def sharded(problem: Problem, shards: int, islands: int = 4, migration_interval: int = 6) -> Problem:
    pop = problem.config.population.model_copy(
        update={"shards": shards, "islands": islands, "migration_interval": migration_interval}
    )
    return replace(problem, config=problem.config.model_copy(update={"population": pop}))


def open_run(ray, url: str, problem: Problem, name: str, resume: bool = False) -> ShardedPopulation:
    def make(spec: ShardSpec):
        actor = ray.remote(PopulationActor).options(num_cpus=0, max_concurrency=1)
        return actor.remote(url, name, problem, RunConfig(), 3, "test", "offline", None, resume, spec)

    return ShardedPopulation.open(problem.config.population, make)


def drive(ray, pop: ShardedPopulation, n: int, batch: int = 1):
    """n iterations through the coordinator, `batch` at a time (one commit per shard per batch)."""
    info = pop.start_info
    if info.initial_ticket is not None:
        ref = pop.submit_result(info.initial_ticket, fake_outcome(info.initial_ticket.code))
        pop.progress(ref, ray.get(ref))
    progress = pop.merged
    for _ in range(n // batch):
        tasks = [t for ref in pop.next_tasks(batch) for t in ray.get(ref)]
        proposals = [(propose(t, SETTINGS), None) for t in tasks]
        tickets = []
        for ref in pop.submit_proposals(proposals):
            admissions = ray.get(ref)
            progress = pop.progress(ref, admissions[-1].progress)
            tickets += [a.ticket for a in admissions if a.ticket is not None]
        for ref in pop.submit_results([(t, fake_outcome(t.code)) for t in tickets]):
            progress = pop.progress(ref, ray.get(ref))
    return progress


def holdings(ray, pop: ShardedPopulation) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for held in ray.get([s.holdings.remote() for s in pop.shards]):
        out.update(held)
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'e.db'}"
    return request.getfixturevalue("postgres_url")


def test_iterations_unique_and_each_shard_writes_its_islands(ray_local, circle_packing, db_url, request):
    name = f"unique-{request.node.callspec.id}"
    pop = open_run(ray_local, db_url, sharded(circle_packing, 2), name)
    progress = drive(ray_local, pop, 64, batch=8)
    pop.close()
    engine = open_engine(db_url)
    with engine.connect() as conn:
        run_id = conn.execute(select(Run.id).where(Run.name == name)).scalar_one()
        calls = conn.execute(select(LLMCall.iteration, LLMCall.island).where(LLMCall.run_id == run_id)).all()
        programs = conn.execute(select(Program.iteration, Program.island).where(Program.run_id == run_id)).all()
        evaluated = conn.execute(
            select(func.count())
            .select_from(Program)
            .where(Program.run_id == run_id, Program.iteration > 0, Program.status == ProgramStatus.OK)
        ).scalar_one()
    engine.dispose()
    iterations = [c.iteration for c in calls]
    assert sorted(iterations) == list(range(1, 65))  # each once, none skipped
    assert all(c.island == c.iteration % 4 for c in calls)
    assert all(p.island == p.iteration % 4 for p in programs if p.iteration > 0)
    # The merged progress counts every shard's candidates once.
    assert progress.completed == 64 and progress.evaluated == evaluated


def test_migration_crosses_shards_and_resume_replays_it(ray_local, circle_packing, db_url, request):
    name = f"migrate-{request.node.callspec.id}"
    problem = sharded(circle_packing, 2, migration_interval=5)
    pop = open_run(ray_local, db_url, problem, name)
    drive(ray_local, pop, 60, batch=4)
    before = holdings(ray_local, pop)
    pop.close()
    engine = open_engine(db_url)
    with engine.connect() as conn:
        run_id = conn.execute(select(Run.id).where(Run.name == name)).scalar_one()
        events = conn.execute(select(Event.data).where(Event.run_id == run_id, Event.kind == EventKind.MIGRATION)).all()
        native = dict(conn.execute(select(Program.id, Program.island).where(Program.run_id == run_id)).all())
    engine.dispose()
    moves = [m for e in events for m in e.data["moves"]]
    assert moves and all(owner(src, 2) != owner(dst, 2) for src, dst, _ in moves)
    for _, dst, mid in moves:  # a program born on one shard's island lives on the next shard's
        assert mid in before[dst]
    assert any(native[mid] != dst and native[mid] % 2 != dst % 2 for _, dst, mid in moves)
    # Reopened, each shard rebuilds its islands from the store alone, migrants included.
    again = open_run(ray_local, db_url, problem, name, resume=True)
    assert {i: sorted(m) for i, m in holdings(ray_local, again).items()} == {i: sorted(m) for i, m in before.items()}
    again.close()


def test_the_runs_best_is_the_best_of_every_shard(ray_local, circle_packing, db_url, request):
    name = f"best-{request.node.callspec.id}"
    pop = open_run(ray_local, db_url, sharded(circle_packing, 3, islands=6), name)
    progress = drive(ray_local, pop, 72, batch=6)
    best = pop.best_program()
    pop.close()
    engine = open_engine(db_url)
    with engine.connect() as conn:
        run = conn.execute(select(Run.id, Run.best_score, Run.best_program_id).where(Run.name == name)).one()
        top = conn.execute(
            select(Program.id, Program.score)
            .where(Program.run_id == run.id, Program.status == ProgramStatus.OK)
            .order_by(Program.score.desc(), Program.id)
            .limit(1)
        ).one()
        news = conn.execute(
            select(Event.data).where(Event.run_id == run.id, Event.kind == EventKind.NEW_BEST).order_by(Event.id)
        ).all()
    engine.dispose()
    assert run.best_score == top.score == progress.best_score
    assert run.best_program_id == progress.best_id and best is not None and best.id == run.best_program_id
    scores = [e.data["score"] for e in news]
    assert scores == sorted(set(scores))  # a new best of the run only ever rises, whichever shard found it
    assert news[-1].data["program_id"] == run.best_program_id


def test_a_killed_run_reopens_every_shard_with_the_same_islands(ray_local, circle_packing, db_url, request):
    name = f"killed-{request.node.callspec.id}"
    problem = sharded(circle_packing, 2, migration_interval=7)
    pop = open_run(ray_local, db_url, problem, name)
    first = drive(ray_local, pop, 40, batch=4)
    before = holdings(ray_local, pop)
    for shard in pop.shards:  # no finish, no close: as a killed driver leaves it
        ray_local.kill(shard)
    again = open_run(ray_local, db_url, problem, name, resume=True)
    assert {i: sorted(m) for i, m in holdings(ray_local, again).items()} == {i: sorted(m) for i, m in before.items()}
    p = again.merged
    assert (p.completed, p.evaluated, p.failed, p.best_score, p.best_id) == (
        first.completed,
        first.evaluated,
        first.failed,
        first.best_score,
        first.best_id,
    )
    assert again.next_iteration == 41
    drive(ray_local, again, 20, batch=4)  # the resumed run goes on numbering after the killed one
    again.close()
    engine = open_engine(db_url)
    with engine.connect() as conn:
        run_id = conn.execute(select(Run.id).where(Run.name == name)).scalar_one()
        iterations = conn.execute(select(LLMCall.iteration).where(LLMCall.run_id == run_id)).scalars().all()
    engine.dispose()
    assert sorted(iterations) == list(range(1, 61))


def test_one_shard_is_the_unsharded_population(ray_local, circle_packing, tmp_path):
    """Through the coordinator, one shard makes the same choices as PopulationActor called directly."""
    from test_population_actor import drive as drive_direct
    from test_population_actor import open_db

    (tmp_path / "a").mkdir()
    direct = open_db(tmp_path / "a", circle_packing, seed=3)
    expected = drive_direct(direct, 30)
    pop = open_run(ray_local, f"sqlite:///{tmp_path / 'b.db'}", circle_packing, "r")
    info = pop.start_info
    ref = pop.submit_result(info.initial_ticket, fake_outcome(info.initial_ticket.code))
    pop.progress(ref, ray_local.get(ref))
    trace = []
    for _ in range(30):
        task = ray_local.get(pop.next_task())
        ref = pop.submit_proposal(propose(task, SETTINGS))
        admission = ray_local.get(ref)
        progress = pop.progress(ref, admission.progress)
        trace.append(
            (
                task.iteration,
                task.island,
                task.parent.id,
                tuple(p.id for p in task.inspirations),
                bool(admission.ticket),
            )
        )
        if admission.ticket:
            ref = pop.submit_result(admission.ticket, fake_outcome(admission.ticket.code))
            progress = pop.progress(ref, ray_local.get(ref))
    pop.close()
    assert trace == expected
    assert progress == direct.progress


def test_more_shards_than_islands_is_refused_naming_the_key():
    text = Path(__file__).resolve().parents[1].joinpath("problems/circle_packing/problem.toml").read_text()
    text = text.replace("migration_interval = 20", "migration_interval = 20\nshards = 5")
    with pytest.raises(ProblemError, match=r"key 'population.shards': .*at most the number of islands \(4\)"):
        parse_config(Path("problems/circle_packing/problem.toml"), text)
