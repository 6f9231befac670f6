"""Cloudcast: broadcast a dataset from one cloud region to several, as cheaply as possible.

The data (data_gb, split into num_partitions equal partitions) starts at `source` and must reach
every region in `destinations`. For each destination and each partition, choose a path of
regions over the overlay graph (relays in other regions allowed). The evaluator prices the plan:
every link a partition crosses is paid (egress $/GB x partition size) once per partition, even
when several destinations share it (so a broadcast tree is cheaper than separate paths), plus
num_vms VMs in every region on any path for the whole transfer time, which the slowest link or
region egress/ingress limit sets.
"""

import heapq


# EVOLVE-BLOCK-START
def search_algorithm(source, destinations, graph, regions, data_gb, num_partitions, num_vms):
    """Return {destination: [path for partition 0, ..., path for partition num_partitions-1]}.

    graph[u][v] = {"cost": $/GB egress, "throughput": Gbps} for each existing directed link.
    regions[r] = {"provider", "vm_price" ($/h per VM), "egress_limit", "ingress_limit" (Gbps per VM)}.
    A path is a list of region names from source to the destination.
    Baseline: the cheapest-egress path (Dijkstra) to each destination, the same for every partition.
    """
    dist = {source: 0.0}
    prev = {}
    heap = [(0.0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist.get(u, float("inf")):
            continue
        for v, link in graph[u].items():
            nd = d + link["cost"]
            if nd < dist.get(v, float("inf")):
                dist[v] = nd
                prev[v] = u
                heapq.heappush(heap, (nd, v))
    plan = {}
    for dst in destinations:
        path = [dst]
        while path[-1] != source:
            path.append(prev[path[-1]])
        path.reverse()
        plan[dst] = [path] * num_partitions
    return plan


# EVOLVE-BLOCK-END


def run(cases):
    """Entry point called by the evaluator: one plan per case."""
    return [search_algorithm(**case) for case in cases]
