"""Several objectives: dominance, the bounded non-dominated front with NSGA-II crowding, parents
drawn from it, and the [objectives] config. Pure logic, seeded."""

import math
import random

import pytest

from evolve.errors import ProblemError
from evolve.population import Member, Population, SelectionPolicy
from evolve.population.pareto import (
    Direction,
    Objective,
    admit,
    crowding_distances,
    dominates,
    non_dominated,
    oriented_vector,
    pick,
    trim,
)
from evolve.problem import parse_config

COST_AND_QUALITY = (Objective("cost", Direction.MINIMIZE), Objective("quality", Direction.MAXIMIZE))


def member(id, *objectives):
    return Member(id, 0.0, (0,), 0, tuple(objectives))


def test_dominance_needs_no_worse_everywhere_and_better_somewhere():
    assert dominates((2, 2), (1, 2))
    assert not dominates((2, 2), (2, 2))  # equal: neither dominates
    assert not dominates((3, 1), (1, 3))  # a trade-off
    assert not dominates((1, 2), (2, 2))


def test_oriented_vector_negates_minimized_metrics_and_rejects_missing_ones():
    assert oriented_vector(COST_AND_QUALITY, {"cost": 3, "quality": 0.5, "x": 1}) == (-3.0, 0.5)
    assert oriented_vector(COST_AND_QUALITY, {"cost": 3}) == ()
    assert oriented_vector(COST_AND_QUALITY, {"cost": math.nan, "quality": 1.0}) == ()
    assert oriented_vector(COST_AND_QUALITY, {"cost": True, "quality": 1.0}) == ()
    assert oriented_vector((), {"cost": 1}) == ()


def test_non_dominated_keeps_the_trade_off_and_the_earliest_of_equals():
    ms = [member(1, 1, 1), member(2, 3, 1), member(3, 1, 3), member(4, 2, 2), member(5, 3, 1), member(6, 0, 0)]
    assert [m.id for m in non_dominated(ms)] == [2, 3, 4]


def test_crowding_gives_extremes_infinity_and_inner_points_their_neighbours_gap():
    d = crowding_distances([(0, 4), (1, 3), (3, 1), (4, 0)])
    assert d[0] == d[3] == math.inf
    # (1,3): neighbours (0,4),(3,1): 3/4 + 3/4; (3,1): neighbours (1,3),(4,0): 3/4 + 3/4
    assert d[1] == pytest.approx(1.5) and d[2] == pytest.approx(1.5)
    assert crowding_distances([(0, 1), (1, 0)]) == [math.inf, math.inf]


def test_admit_drops_the_dominated_and_refuses_a_dominated_newcomer():
    front = [member(1, 0, 4), member(2, 4, 0), member(3, 2, 2)]
    assert admit(front, member(4, 1, 1), 10) == front  # dominated by 3
    assert admit(front, member(5, 2, 2), 10) == front  # equal to 3: the incumbent stays
    grown = admit(front, member(6, 3, 3), 10)
    assert [m.id for m in grown] == [1, 2, 6]  # 6 dominates 3
    assert admit(front, Member(7, 9.0, (0,), 0), 10) == front  # no objectives: never on a front


def test_a_full_front_sheds_its_most_crowded_member_and_keeps_the_extremes():
    # On the line x + y = 10: 0 and 10 are extremes; 5 and 6 crowd each other; 6 is newer.
    points = [member(i, x, 10 - x) for i, x in enumerate([0, 5, 6, 10, 2, 8], start=1)]
    kept = trim(points, 5)
    assert sorted(m.objectives[0] for m in kept) == [0, 2, 5, 8, 10]
    kept = trim(points, 2)
    assert sorted(m.objectives[0] for m in kept) == [0, 10]


def test_parents_come_from_the_front_and_the_tournament_favours_the_sparse_region():
    policy = SelectionPolicy(exploration=0.0, exploitation=1.0, front_size=8, objectives=COST_AND_QUALITY)
    pop = Population(1, policy)
    made = [
        pop.member(i, 0.0, (i,), 0, {"cost": c, "quality": q})
        for i, (c, q) in enumerate([(5, 1), (1, 0.2), (3, 0.9), (3.1, 0.91), (3.2, 0.92), (4, 0.5)], start=1)
    ]
    for m in made:
        pop.add(0, m)
    front = {m.id for m in pop.islands[0].front}
    assert front == {1, 2, 3, 4, 5}  # 6 costs more than 3 for less quality
    rng = random.Random(7)
    picks = [pop.select_parent(0, rng).id for _ in range(2000)]
    assert set(picks) <= front
    # 1 and 2 are extremes (infinite crowding distance): they win every tournament they enter;
    # 4, squeezed between 3 and 5, wins fewer than either extreme.
    assert picks.count(1) > picks.count(4) and picks.count(2) > picks.count(4)
    assert [pick(pop.islands[0].front, random.Random(3)).id for _ in range(3)] == [
        pick(pop.islands[0].front, random.Random(3)).id for _ in range(3)
    ]


def test_the_front_is_bounded_and_survives_a_wipe_and_migration():
    policy = SelectionPolicy(front_size=3, objectives=COST_AND_QUALITY)
    pop = Population(2, policy)
    for i in range(10):  # all on one trade-off line: every one non-dominated
        pop.add(0, pop.member(i + 1, float(i), (i,), 0, {"cost": i, "quality": i}))
    assert len(pop.islands[0].front) == 3
    assert {m.id for m in pop.islands[0].front} >= {1, 10}  # the extremes stay
    pop.migrate(1)
    assert pop.islands[1].front  # the migrant arrived with its objectives
    founder = pop.islands[0].by_id[10]
    pop.wipe(0, founder)
    assert [m.id for m in pop.islands[0].front] == [10]


def test_without_objectives_there_is_no_front_and_selection_is_unchanged():
    pop = Population(1, SelectionPolicy(exploration=0.0, exploitation=1.0))
    for i in range(5):
        pop.add(0, pop.member(i, float(i), (i,), 0, {"cost": i}))
    assert pop.islands[0].front == []
    assert pop.select_parent(0, random.Random(1)).id in {4, 3, 2, 1, 0}


def config(extra):
    return parse_config(__import__("pathlib").Path("p/problem.toml"), 'name = "a"\nprogram = "p.py"\n' + extra)


def test_objectives_config_is_strict_and_names_the_key():
    c = config('[objectives]\ncost = "minimize"\nquality = "maximize"\n[population]\nfront_size = 4\n')
    assert c.objective_list() == COST_AND_QUALITY
    assert c.population.front_size == 4
    with pytest.raises(ProblemError, match=r"objectives\.cost.*'maximize' or 'minimize'"):
        config('[objectives]\ncost = "min"\nquality = "maximize"\n')
    with pytest.raises(ProblemError, match=r"'objectives'.*at least two"):
        config('[objectives]\ncost = "minimize"\n')
    with pytest.raises(ProblemError, match="front_size"):
        config("[population]\nfront_size = 1\n")
