"""MoE expert-parallel load balancer (EPLB): replicate hot experts and place the replicas on GPUs.

Given the load of every logical expert in each MoE layer over the last window, choose for each
layer which logical expert every physical slot holds. Slot s lives on GPU s // (num_replicas //
num_gpus); GPUs g*gpus_per_node .. belong to node g // (num_gpus // num_nodes). The evaluator
scores the placement on the NEXT window of load: each expert's tokens are split evenly over its
replicas, and balancedness = mean GPU load / max GPU load. Faster algorithms score a little more.
"""


# EVOLVE-BLOCK-START
def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """Return phy2log: for each layer, a list of num_replicas logical expert ids.

    weight: list of layers, each a list of per-expert loads (token counts).
    Every logical expert needs at least one slot; each GPU gets num_replicas // num_gpus slots.
    Simple greedy: give extra replicas to the expert with the highest load per replica, then
    pack replicas (heaviest first) onto the least-loaded GPU that still has a free slot.
    """
    slots_per_gpu = num_replicas // num_gpus
    phy2log = []
    for loads in weight:
        num_experts = len(loads)
        counts = [1] * num_experts
        for _ in range(num_replicas - num_experts):
            best = max(range(num_experts), key=lambda e: loads[e] / counts[e])
            counts[best] += 1
        replicas = []
        for e in range(num_experts):
            replicas.extend([(loads[e] / counts[e], e)] * counts[e])
        replicas.sort(reverse=True)
        gpu_load = [0.0] * num_gpus
        gpu_slots = [[] for _ in range(num_gpus)]
        for share, e in replicas:
            g = min((g for g in range(num_gpus) if len(gpu_slots[g]) < slots_per_gpu), key=lambda g: gpu_load[g])
            gpu_slots[g].append(e)
            gpu_load[g] += share
        phy2log.append([e for slots in gpu_slots for e in slots])
    return phy2log


# EVOLVE-BLOCK-END


def run(cases, num_replicas, num_groups, num_nodes, num_gpus):
    """Entry point called by the evaluator: one phy2log per case."""
    return [rebalance_experts(w, num_replicas, num_groups, num_nodes, num_gpus) for w in cases]
