"""Island resets: which islands are wiped, what they restart from, and that the plan is seeded."""

import random
from dataclasses import replace

from sqlalchemy import select

from evolve.engine.population_actor import PopulationActor
from evolve.kinds import EventKind
from evolve.mutate.llm import ModelSpec
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import MutatorSettings, propose
from evolve.population import Member, Population, SelectionPolicy
from evolve.sandbox.base import EvalOutcome
from evolve.search.resets import IslandBest, plan_reset, stagnant
from evolve.store import Event, RunConfig


def bests(*scores):
    return [IslandBest(i, 100 + i if s is not None else None, s) for i, s in enumerate(scores)]


def test_islands_that_did_not_improve_are_stagnant():
    now = bests(1.0, 2.5, 3.0, None)
    before = {0: 1.0, 1: 2.0, 2: 3.0, 3: None}
    assert stagnant(now, before) == [0, 2, 3]
    assert stagnant(now, {}) == []  # the first check: no window yet


def test_the_weaker_stagnant_islands_go_never_the_leader_never_more_than_half():
    now = bests(1.0, 2.0, 3.0, 5.0, 0.5, 4.0)
    before = {i: b.score for i, b in enumerate(now)}  # nobody improved
    plan = plan_reset(now, before, random.Random(0))
    assert plan.wiped == (0, 1, 4)  # the three weakest of six
    assert 3 not in plan.wiped
    founders = {pid for _, pid in plan.seeds}
    assert founders <= {102, 103, 105}  # each restarts from the best of a survivor


def test_an_island_that_improved_is_kept():
    now = bests(1.0, 2.0, 3.0, 4.0)
    before = {0: 0.5, 1: 2.0, 2: 3.0, 3: 4.0}
    plan = plan_reset(now, before, random.Random(1))
    assert plan.wiped == (1, 2)
    assert 0 not in plan.wiped and 3 not in plan.wiped


def test_the_leader_survives_even_when_it_stalled():
    now = bests(1.0, 9.0)
    plan = plan_reset(now, {0: 1.0, 1: 9.0}, random.Random(2))
    assert plan.wiped == (0,) and plan.seeds == ((0, 101),)


def test_nothing_to_reset():
    assert not plan_reset(bests(1.0), {0: 1.0}, random.Random(0))
    assert not plan_reset(bests(1.0, 2.0), {}, random.Random(0))
    assert not plan_reset(bests(1.5, 2.0), {0: 1.0, 1: 1.0}, random.Random(0))


def test_the_plan_is_seeded():
    now = bests(1.0, 2.0, 3.0, 5.0, 0.5, 4.0, 0.1, 0.2)
    before = {i: b.score for i, b in enumerate(now)}
    a = [plan_reset(now, before, random.Random(s)).seeds for s in range(5)]
    b = [plan_reset(now, before, random.Random(s)).seeds for s in range(5)]
    assert a == b and len(set(a)) > 1


def test_wiping_an_island_keeps_the_runs_best_and_restarts_from_the_founder():
    pop = Population(2, SelectionPolicy())
    pop.seed_all(Member(1, 1.0, (0, 0), 0))
    pop.add(0, Member(2, 1.5, (1, 0), 1))
    pop.add(1, Member(3, 4.0, (2, 0), 1))
    pop.wipe(0, pop.islands[1].best())
    assert sorted(pop.islands[0].by_id) == [3] and pop.islands[0].best().id == 3
    assert pop.best.id == 3 and sorted(pop.islands[1].by_id) == [1, 3]


def fake_outcome(code: str) -> EvalOutcome:
    score = (sum(map(ord, code)) % 1000) / 1000.0  # deterministic, varies with the code
    return EvalOutcome(ok=True, score=score, metrics={"score": score, "min_radius": score / 20}, sandbox="test")


def test_a_reset_is_an_event_row_and_survives_resume(tmp_path, circle_packing):
    population = circle_packing.config.population.model_copy(update={"reset_interval": 6})
    problem = replace(circle_packing, config=circle_packing.config.model_copy(update={"population": population}))
    # A model in the run's config: the search plans for it (and keeps its novelty index); the
    # offline mutator makes the children.
    config = RunConfig(models=(ModelSpec("m"),))
    settings = MutatorSettings(problem=ProblemView("circle_packing", "", "python"))

    def open_db(resume):
        return PopulationActor(
            f"sqlite:///{tmp_path / 'e.db'}", "r", problem, config, 3, "test", "offline", 200, resume
        )

    db = open_db(False)
    start = db.start()
    db.submit_result(start.initial_ticket, fake_outcome(start.initial_ticket.code))
    for _ in range(120):
        admission = db.submit_proposal(propose(db.next_task(), settings))
        if admission.ticket:
            db.submit_result(admission.ticket, fake_outcome(admission.ticket.code))
    with db.engine.connect() as conn:
        resets = conn.execute(select(Event.data).where(Event.kind == EventKind.RESET)).scalars().all()
    assert resets, "no island was reset"
    for data in resets:
        assert data["islands"] and len(data["islands"]) <= 2 and data["after_evaluation"] > 0
        assert {island for island, _ in data["seeds"]} == set(data["islands"])
    islands = [sorted(isl.by_id) for isl in db.population.islands]
    index = [sorted(isl.members) for isl in db.search.novelty.islands]
    since_best = db.progress.since_best
    db.close()

    again = open_db(True)
    assert [sorted(isl.by_id) for isl in again.population.islands] == islands
    assert [sorted(isl.members) for isl in again.search.novelty.islands] == index
    assert again.progress.since_best == since_best
    again.close()
