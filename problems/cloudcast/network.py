"""Seeded three-provider cloud graphs and broadcast requests for the cloudcast problem.

Regions of AWS, Azure and GCP with rough coordinates. Per case, egress prices, link throughputs
and VM prices are jittered around realistic levels, and a few links are missing:

- egress $/GB: ~0.02 between regions of one provider on one continent, 0.02-0.08 across
  continents within a provider, 0.08-0.14 leaving the provider (internet egress, dearer from Asia
  and South America);
- throughput (Gbps) falls with distance and is higher inside one provider;
- each region runs NUM_VMS VMs with a per-VM egress and ingress limit and an hourly price.
"""

import itertools
import math

import numpy as np

NUM_VMS = 2
NUM_PARTITIONS = 10

# name, provider, continent, latitude, longitude
REGIONS = [
    ("aws:us-east-1", "aws", "na", 38.9, -77.4),
    ("aws:us-west-2", "aws", "na", 45.8, -119.7),
    ("aws:eu-west-1", "aws", "eu", 53.3, -6.3),
    ("aws:eu-central-1", "aws", "eu", 50.1, 8.7),
    ("aws:ap-northeast-1", "aws", "as", 35.7, 139.7),
    ("aws:ap-southeast-1", "aws", "as", 1.3, 103.8),
    ("aws:sa-east-1", "aws", "sa", -23.5, -46.6),
    ("azure:eastus", "azure", "na", 37.4, -79.0),
    ("azure:westus2", "azure", "na", 47.2, -119.9),
    ("azure:westeurope", "azure", "eu", 52.4, 4.9),
    ("azure:northeurope", "azure", "eu", 53.3, -6.2),
    ("azure:japaneast", "azure", "as", 35.7, 139.8),
    ("azure:southeastasia", "azure", "as", 1.3, 103.8),
    ("gcp:us-east1", "gcp", "na", 33.2, -80.0),
    ("gcp:us-west1", "gcp", "na", 45.6, -121.2),
    ("gcp:europe-west1", "gcp", "eu", 50.4, 3.8),
    ("gcp:europe-west4", "gcp", "eu", 53.4, 6.8),
    ("gcp:asia-northeast1", "gcp", "as", 35.7, 139.7),
    ("gcp:asia-southeast1", "gcp", "as", 1.3, 103.8),
    ("gcp:southamerica-east1", "gcp", "sa", -23.5, -46.6),
]

VM_PRICE = {"aws": 1.536, "azure": 1.52, "gcp": 1.35}  # $/h, 32-vCPU class VM
VM_EGRESS_GBPS = {"aws": 5.0, "azure": 12.5, "gcp": 7.0}  # per-VM egress limit
VM_INGRESS_GBPS = 12.5
INTERNET_EGRESS = {"na": 0.09, "eu": 0.09, "as": 0.12, "sa": 0.14}

TRAIN_SEEDS = tuple(range(8))
HELDOUT_SEEDS = tuple(range(500, 508))


def _km(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (a[3], a[4], b[3], b[4]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def make_case(seed):
    """{'seed', 'source', 'destinations', 'data_gb', 'num_partitions', 'num_vms', 'regions', 'graph'}.

    graph[u][v] = {'cost': $/GB, 'throughput': Gbps} for every existing directed link u -> v;
    regions[name] = {'provider', 'vm_price', 'egress_limit', 'ingress_limit'} (limits per VM, Gbps).
    """
    rng = np.random.default_rng(seed)
    names = [r[0] for r in REGIONS]
    source = names[int(rng.integers(len(names)))]
    others = [n for n in names if n != source]
    k = int(rng.integers(3, 7))
    destinations = [others[i] for i in sorted(rng.choice(len(others), size=k, replace=False))]
    data_gb = float(rng.choice([50, 100, 200, 300]))

    regions = {}
    for name, provider, *_ in REGIONS:
        regions[name] = {
            "provider": provider,
            "vm_price": round(VM_PRICE[provider] * float(rng.uniform(0.9, 1.1)), 4),
            "egress_limit": VM_EGRESS_GBPS[provider],
            "ingress_limit": VM_INGRESS_GBPS,
        }
    graph = {n: {} for n in names}
    for a in REGIONS:
        for b in REGIONS:
            if a is b:
                continue
            u, v = a[0], b[0]
            direct = u == source and v in destinations
            if not direct and rng.random() < 0.1:
                continue  # a missing link
            same_provider = a[1] == b[1]
            if same_provider:
                base = 0.02 if a[2] == b[2] else float(rng.choice([0.02, 0.05, 0.08]))
            else:
                base = INTERNET_EGRESS[a[2]]
            cost = round(base * float(rng.uniform(0.9, 1.1)), 4)
            km = _km(a, b)
            tp = 10.0 / (1.0 + km / 2500.0) * (1.5 if same_provider else 1.0)
            tp *= float(rng.lognormal(0.0, 0.3))
            graph[u][v] = {"cost": cost, "throughput": round(min(max(tp, 0.3), 20.0), 3)}
    return {
        "seed": seed,
        "source": source,
        "destinations": destinations,
        "data_gb": data_gb,
        "num_partitions": NUM_PARTITIONS,
        "num_vms": NUM_VMS,
        "regions": regions,
        "graph": graph,
    }


def make_cases(seeds):
    return [make_case(s) for s in seeds]


def broadcast_cost(case, paths):
    """Cost of a validated plan: paths[dst][p] is the region list partition p takes to dst.

    Each link a partition crosses is paid once per partition (a broadcast tree shares it across
    destinations). Transfer time is the slowest of: every link (its data over its throughput),
    every region's egress and ingress (its data over num_vms x the per-VM limit). Every region on
    any path runs num_vms VMs for the whole transfer.
    Returns dict(total, egress, vm, seconds, bottleneck).
    """
    graph, regions = case["graph"], case["regions"]
    part_gb = case["data_gb"] / case["num_partitions"]
    link_gb = {}
    for p in range(case["num_partitions"]):
        used = set()
        for dst in case["destinations"]:
            path = paths[dst][p]
            used.update(itertools.pairwise(path))
        for edge in used:
            link_gb[edge] = link_gb.get(edge, 0.0) + part_gb
    egress = sum(gb * graph[u][v]["cost"] for (u, v), gb in link_gb.items())
    out_gb, in_gb, active = {}, {}, {case["source"], *case["destinations"]}
    for (u, v), gb in link_gb.items():
        out_gb[u] = out_gb.get(u, 0.0) + gb
        in_gb[v] = in_gb.get(v, 0.0) + gb
        active.update((u, v))
    vms = case["num_vms"]
    times = [(gb * 8 / graph[u][v]["throughput"], f"link {u}->{v}") for (u, v), gb in link_gb.items()]
    times += [(gb * 8 / (vms * regions[r]["egress_limit"]), f"egress of {r}") for r, gb in out_gb.items()]
    times += [(gb * 8 / (vms * regions[r]["ingress_limit"]), f"ingress of {r}") for r, gb in in_gb.items()]
    seconds, bottleneck = max(times)
    vm = sum(vms * regions[r]["vm_price"] for r in active) * seconds / 3600
    return {"total": egress + vm, "egress": egress, "vm": vm, "seconds": seconds, "bottleneck": bottleneck}


def direct_paths(case):
    """The reference plan: every partition goes straight from the source to each destination."""
    return {d: [[case["source"], d]] * case["num_partitions"] for d in case["destinations"]}
