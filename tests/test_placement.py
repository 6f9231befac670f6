"""Placement is decided per node: cluster totals can add up where no single node fits."""

from evolve.engine.cluster import closest_node, evaluation_needs, evaluation_slots, shortfall, slots_on


def test_two_one_cpu_nodes_cannot_run_a_two_cpu_evaluation():
    nodes = [{"CPU": 1.0}, {"CPU": 1.0}]
    needs = evaluation_needs(cpus=2, gpus=0, custom={})
    assert not any(slots_on(node, needs) for node in nodes)
    assert evaluation_slots(nodes, needs) == 0
    assert shortfall(nodes[0], needs) == {"CPU": 1.0}


def test_slots_count_every_resource_together():
    nodes = [{"CPU": 16.0, "GPU": 2.0}, {"CPU": 8.0}, {"CPU": 4.0, "GPU": 1.0, "tpu": 1.0}]
    assert evaluation_slots(nodes, evaluation_needs(cpus=1, gpus=0, custom={})) == 28
    assert evaluation_slots(nodes, evaluation_needs(cpus=4, gpus=1, custom={})) == 3
    assert evaluation_slots(nodes, evaluation_needs(cpus=1, gpus=0, custom={"tpu": 1})) == 1
    assert evaluation_slots(nodes, evaluation_needs(cpus=0.5, gpus=0, custom={})) == 56


def test_the_closest_node_is_the_one_with_the_smallest_gap():
    nodes = [{"CPU": 1.0}, {"CPU": 3.0, "GPU": 0.0}, {"CPU": 2.0, "GPU": 1.0}]
    needs = evaluation_needs(cpus=4, gpus=1, custom={})
    assert closest_node(nodes, needs) == {"CPU": 2.0, "GPU": 1.0}
