"""The bandits (Thompson sampling with weight priors, reward per dollar), resting failing models,
and the adaptive search's plans: pure, seeded, reproducible."""

import random

import pytest

from evolve.kinds import Mutation
from evolve.population import Member, Population, SelectionPolicy
from evolve.search.adaptive import AdaptiveSearch, SearchSettings, arm_stats
from evolve.search.bandit import Bandit
from evolve.search.fallback import ModelRest
from evolve.store.pulls import StoredPull


def run_scripted(seed: int, rounds: int = 300) -> list[str]:
    """Arm `good` improves on every second pull, `bad` never: the choices, in order."""
    bandit = Bandit({"good": 1.0, "bad": 1.0})
    rng = random.Random(seed)
    pulls: dict[str, int] = {"good": 0, "bad": 0}
    chosen = []
    for _ in range(rounds):
        arm = bandit.choose(rng)
        pulls[arm] += 1
        gain = 0.1 if arm == "good" and pulls[arm] % 2 == 0 else 0.0
        bandit.observe(arm, gain, cost=0.001)
        chosen.append(arm)
    return chosen


def test_the_arm_that_improves_gets_most_pulls():
    chosen = run_scripted(seed=7)
    assert chosen[-100:].count("good") >= 85
    assert chosen.count("bad") >= 3  # it was tried, not ignored from the start


def test_the_same_seed_makes_the_same_choices():
    assert run_scripted(seed=3) == run_scripted(seed=3)
    assert run_scripted(seed=3) != run_scripted(seed=4)


def test_before_any_evidence_the_choices_follow_the_weights():
    bandit = Bandit({"diff": 0.7, "full": 0.3})
    rng = random.Random(0)
    share = sum(bandit.choose(rng) == "diff" for _ in range(4000)) / 4000
    assert 0.6 < share < 0.9


def test_an_arm_with_no_weight_is_never_chosen():
    bandit = Bandit({"a": 1.0, "off": 0.0})
    rng = random.Random(1)
    assert {bandit.choose(rng) for _ in range(200)} == {"a"}


def test_the_reward_floor_and_the_largest_gain():
    bandit = Bandit({"a": 1.0, "b": 1.0})
    bandit.observe("a", 0.001, 0.0)  # a tiny improvement still earns at least 0.5
    bandit.observe("b", 1.0, 0.0)  # the largest improvement earns 1
    bandit.observe("b", -5.0, 0.0)  # worse than the parent: 0
    bandit.observe("b", float("nan"), 0.0)  # a failure: 0
    assert bandit.mean_reward("a") == pytest.approx(0.5005)
    assert bandit.mean_reward("b") == pytest.approx(1.0 / 3)
    assert [s.improved for s in bandit.stats()] == [1, 1]


def test_equal_gains_go_to_the_cheaper_arm_per_dollar():
    def share_of_cheap(cost_weight: float) -> float:
        bandit = Bandit({"cheap": 1.0, "dear": 1.0}, cost_weight=cost_weight)
        for i in range(60):  # the same evidence for both: one pull in three improves
            for arm, cost in (("cheap", 0.001), ("dear", 0.01)):
                bandit.observe(arm, 0.2 if i % 3 == 0 else 0.0, cost)
        rng = random.Random(5)
        return sum(bandit.choose(rng) == "cheap" for _ in range(2000)) / 2000

    assert share_of_cheap(1.0) > 0.9
    assert 0.45 < share_of_cheap(0.0) < 0.55


def test_static_weights_when_not_adaptive():
    bandit = Bandit({"a": 3.0, "b": 1.0}, adaptive=False)
    for _ in range(50):
        bandit.observe("b", 1.0, 0.0)  # evidence is kept for the report but not used
    rng = random.Random(2)
    share = sum(bandit.choose(rng) == "a" for _ in range(2000)) / 2000
    assert 0.7 < share < 0.8


def test_a_failing_model_rests_and_comes_back_with_a_longer_rest():
    rest = ModelRest(after=3, first_rest=8)
    assert not rest.record("m", True, 1, now=1) and not rest.record("m", True, 2, now=2)
    assert rest.record("m", True, 3, now=5)  # the third failure in a row: rested
    assert rest.available(["m", "n"], 6) == ["n"] and rest.resting("m", 13)
    assert not rest.record("m", True, 4, now=6)  # sent before the rest began: the same outage
    assert rest.available(["m", "n"], 14) == ["m", "n"]
    assert rest.record("m", True, 14, now=14)  # one more failure after a rest: rested again, twice as long
    assert rest.resting("m", 14 + 16) and not rest.resting("m", 14 + 17)
    rest.record("m", False, 40, now=40)  # it answers: no rest, no doubling
    assert rest.available(["m"], 41) == ["m"] and rest.rests["m"] == 0


def test_when_every_model_rests_the_one_back_first_is_used():
    rest = ModelRest(after=1, first_rest=5)
    rest.record("a", True, 1, now=1)
    rest.record("b", True, 2, now=3)
    assert rest.available(["a", "b"], 4) == ["a"]


def population_with_two_islands() -> Population:
    pop = Population(2, SelectionPolicy())
    pop.seed_all(Member(1, 1.0, (0, 0), 0))
    pop.add(1, Member(2, 2.0, (1, 0), 1))
    return pop


def test_the_others_take_a_rested_models_share():
    settings = SearchSettings(models=(("a", 1.0), ("b", 1.0)), rest_after=2, rest_iterations=50)
    search = AdaptiveSearch(settings, islands=2)
    pop = population_with_two_islands()
    rng = random.Random(0)
    for iteration in (1, 2):
        search.plan(iteration, 0, pop.islands[0].best(), pop, rng)
        search.proposal_ended(iteration, "a", Mutation.DIFF, 0.0, call_failed=True, has_child=False)
    models = {search.plan(i, 0, pop.islands[0].best(), pop, rng).model for i in range(3, 40)}
    assert models == {"b"}


def test_plans_offer_crossover_only_with_a_second_parent_and_fix_only_with_a_failure():
    settings = SearchSettings(
        models=(("m", 1.0),),
        kinds=((Mutation.DIFF, 0.0), (Mutation.FULL, 0.0), (Mutation.CROSSOVER, 1.0), (Mutation.FIX, 1.0)),
    )
    search = AdaptiveSearch(settings, islands=2)
    lonely = Population(2, SelectionPolicy())
    lonely.seed_all(Member(1, 1.0, (0, 0), 0))
    rng = random.Random(0)
    # No second parent and no failure: neither is possible, a diff it is.
    assert search.plan(1, 0, lonely.islands[0].best(), lonely, rng).kind == Mutation.DIFF
    pop = population_with_two_islands()
    plan = search.plan(2, 0, pop.islands[0].best(), pop, rng)
    assert plan.kind == Mutation.CROSSOVER and plan.second_parent is not None and plan.second_parent.id == 2
    assert search.pulls[2].baseline == 2.0  # a crossover must beat the better parent
    from evolve.search.repair import Broken

    search.repairs.offer(Broken(1.0, 9, 0, "crash: boom"), None)
    kinds = {search.plan(3 + i, 0, pop.islands[0].best(), pop, rng).kind for i in range(20)}
    assert Mutation.FIX in kinds and search.repairs.take(0) is None  # sent once, not again


def test_arm_stats_from_stored_pulls():
    pulls = [
        StoredPull(1, "a", "diff", 0.01, 0.5, False, True),
        StoredPull(2, "a", "full", 0.02, 0.0, False, True),
        StoredPull(3, "b", "diff", 0.0, 0.0, True, True),
        StoredPull(4, "b", "diff", 0.0, 0.9, False, False),  # not evaluated yet: not counted
    ]
    stats = arm_stats(pulls, {"a": 1.0, "b": 1.0}, {"diff": 0.7, "full": 0.3, "crossover": 0.1, "fix": 0.0})
    models = {s.arm: s for s in stats["model"]}
    assert models["a"].pulls == 2 and models["a"].improved == 1 and models["a"].cost == pytest.approx(0.03)
    assert models["b"].pulls == 1 and models["b"].mean_reward == 0.0
    kinds = {s.arm: s for s in stats["kind"]}
    assert kinds["diff"].pulls == 2 and "fix" not in kinds
    assert arm_stats(pulls, {}, {"diff": 1.0}) == {}


def test_the_bandits_and_the_rests_are_rebuilt_from_the_store_on_resume(tmp_path, circle_packing):
    from dataclasses import replace

    from evolve.engine.population_actor import PopulationActor
    from evolve.mutate.llm import ModelSpec
    from evolve.mutate.prompt import ProblemView
    from evolve.mutate.propose import MutatorSettings, propose
    from evolve.sandbox.base import EvalOutcome
    from evolve.store import RunConfig
    from evolve.usage import CallUsage

    config = RunConfig(models=(ModelSpec("a"), ModelSpec("b")))
    settings = MutatorSettings(problem=ProblemView("circle_packing", "", "python"))

    def open_db(resume):
        return PopulationActor(
            f"sqlite:///{tmp_path / 'e.db'}", "r", circle_packing, config, 2, "test", "llm", 200, resume
        )

    def outcome(code, good):
        score = 2.0 + 0.001 * len(code) if good else 0.5
        return EvalOutcome(ok=True, score=score, metrics={"min_radius": 0.01}, sandbox="test")

    db = open_db(False)
    start = db.start()
    db.submit_result(start.initial_ticket, EvalOutcome(ok=True, score=1.0, metrics={"min_radius": 0.01}, sandbox="t"))
    for i in range(40):
        task = db.next_task()
        # The offline mutator writes the child; the proposal is the chosen model's ("b" always fails).
        proposal = replace(propose(task, settings), model=task.model, mutation=task.mutation or "diff")
        if task.model == "b":
            proposal = replace(proposal, child_code=None, error="InternalServerError: 500", usage=CallUsage(cost=0.0))
        else:
            proposal = replace(proposal, usage=CallUsage(cost=0.001 * (1 + i % 3)))
        admission = db.submit_proposal(proposal)
        if admission.ticket:
            db.submit_result(admission.ticket, outcome(admission.ticket.code, good=i % 2 == 0))
    search = db.search.adaptive
    sums = {name: dict(b.sums) for name, b in (("model", search.model_bandit), ("kind", search.kind_bandit))}
    rest = (dict(search.rest.until), dict(search.rest.rests))
    assert sums["model"]["b"].pulls >= 3 and rest[1]["b"] >= 1  # b failed and was rested
    assert sums["model"]["a"].improved >= 1
    db.close()

    again = open_db(True).search.adaptive
    assert {"model": dict(again.model_bandit.sums), "kind": dict(again.kind_bandit.sums)} == sums
    assert again.model_bandit.largest_gain == pytest.approx(search.model_bandit.largest_gain)
    assert again.rest.rests == rest[1] and again.rest.until["b"] >= rest[0]["b"] - 1
