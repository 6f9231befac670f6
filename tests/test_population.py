import random

import pytest

from evolve.population import Member, Population, SelectionPolicy, axes_for, cell_of, feature_values
from evolve.problem import FeatureDimension


def make_population(n_islands=3, **policy):
    pop = Population(n_islands, SelectionPolicy(**policy))
    pop.seed_all(Member(0, 1.0, (0, 0), 0))
    return pop


def test_seed_all_starts_every_island():
    pop = make_population(4)
    assert all(isl.best().id == 0 for isl in pop.islands)
    assert len(pop) == 1


def test_cell_keeps_its_best_and_run_best_tracks_the_maximum():
    pop = make_population(1)
    assert pop.add(0, Member(1, 2.0, (1, 1), 1)) is True
    assert pop.add(0, Member(2, 1.5, (1, 1), 1)) is False
    assert pop.islands[0].cells[(1, 1)].id == 1
    assert pop.best.id == 1
    assert pop.add(0, Member(3, 3.0, (1, 1), 2)) is True
    assert pop.islands[0].cells[(1, 1)].id == 3


def test_pure_exploitation_picks_from_the_elite_pool():
    pop = make_population(1, exploration=0.0, exploitation=1.0, elite_pool=2)
    for i in range(1, 20):
        pop.add(0, Member(i, float(i), (i % 5, 0), 1))
    rng = random.Random(1)
    picks = {pop.select_parent(0, rng).id for _ in range(200)}
    assert picks == {19, 18}


def test_exploration_reaches_other_cells():
    pop = make_population(1, exploration=1.0, exploitation=0.0)
    for i in range(1, 20):
        pop.add(0, Member(i, float(i), (i, 0), 1))
    rng = random.Random(2)
    picks = {pop.select_parent(0, rng).id for _ in range(300)}
    assert len(picks) > 10


def test_selection_is_seeded():
    pop = make_population(2)
    for i in range(1, 30):
        pop.add(i % 2, Member(i, random.Random(i).random(), (i % 4, i % 3), 1))
    a = [pop.select_parent(1, rng).id for rng in [random.Random(7)] for _ in range(50)]
    b = [pop.select_parent(1, rng).id for rng in [random.Random(7)] for _ in range(50)]
    assert a == b


def test_inspirations_exclude_the_parent_and_include_the_best():
    pop = make_population(2, inspirations=3)
    for i in range(1, 10):
        pop.add(0, Member(i, float(i), (i, 0), 1))
    pop.add(1, Member(50, 100.0, (0, 1), 1))
    parent = pop.islands[0].best()
    chosen = pop.inspirations(0, parent, random.Random(0))
    ids = [m.id for m in chosen]
    assert parent.id not in ids and 50 in ids and len(ids) == 3 and len(set(ids)) == 3


def test_ring_migration_moves_each_island_best_to_the_next():
    pop = make_population(3)
    pop.add(0, Member(10, 5.0, (1, 0), 1))
    pop.add(1, Member(11, 6.0, (1, 0), 1))
    pop.add(2, Member(12, 7.0, (1, 0), 1))
    moves = pop.migrate(1)
    assert sorted(moves) == [(0, 1, 10), (1, 2, 11), (2, 0, 12)]
    assert 12 in pop.islands[0].by_id and 10 in pop.islands[1].by_id
    # Second round: only island 0's new best (12, received from island 2) is news to its neighbour.
    assert pop.migrate(1) == [(0, 1, 12)]


def test_fixed_bins_do_not_drift():
    axes = axes_for(
        [FeatureDimension(name="code_length", max=100, bins=10), FeatureDimension(name="speed", min=0, max=1, bins=4)],
        "x" * 10,
    )
    assert cell_of(axes, feature_values(axes, "x" * 55, {"speed": 0.6}, "")) == (5, 2)
    assert cell_of(axes, feature_values(axes, "x" * 5000, {"speed": -3}, "")) == (9, 0)
    open_axes = axes_for([FeatureDimension(name="code_length")], "x" * 10)
    assert open_axes[0].max == 40


def test_novelty_feature_measures_distance_from_the_initial_program():
    axes = axes_for([FeatureDimension(name="novelty", max=1.0, bins=10)], "a\nb\nc\nd\n")
    same = feature_values(axes, "a\nb\nc\nd\n", {}, "a\nb\nc\nd\n")[0]
    different = feature_values(axes, "w\nx\ny\nz\n", {}, "a\nb\nc\nd\n")[0]
    assert same == pytest.approx(0.0) and different == pytest.approx(1.0)


def test_leaving_sends_each_islands_best_to_the_next():
    pop = make_population(3)
    for island, program_id, score in [(0, 1, 0.5), (0, 5, 1.5), (1, 3, 1.3), (2, 9, 1.9)]:
        pop.add(island, Member(program_id, score, (island, program_id), 1))  # over the initial program's 1.0
    leaving = pop.leaving((0, 2), 2)  # a shard owning islands 0 and 2: their best two each
    assert [(src, dst, m.id) for src, dst, m in leaving] == [(0, 1, 5), (0, 1, 0), (2, 0, 9), (2, 0, 0)]
    assert pop.leaving((0,), 0) == [] and make_population(1).leaving((0,), 2) == []
