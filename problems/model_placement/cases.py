"""Seeded model-placement cases (after PRISM / the ADRS model-placement study).

A case: gpu_num GPUs of GPU_MEM GB and a list of models, each with a size (GB of weights), a
request rate and an SLO. Sizes 10-29 GB, rates 1-9, SLOs 5-9, 5-9 GPUs, as in the original
50 synthetic cases; the number of models (2-3 per GPU) is drawn so that the models always fit
(first-fit decreasing packs them with at least one GB free per GPU).
"""

import random

GPU_MEM = 80
NUM_CASES = 50
TRAIN_SEED = 42
HELDOUT_SEED = 4242


def _fits(sizes, gpu_num):
    free = [GPU_MEM] * gpu_num
    for s in sorted(sizes, reverse=True):
        g = max(range(gpu_num), key=lambda i: free[i])
        if free[g] - s < 1:
            return False
        free[g] -= s
    return True


def make_cases(seed, count=NUM_CASES):
    """[{'gpu_num': int, 'models': [{'name', 'size', 'rate', 'slo'}, ...]}, ...]"""
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        gpu_num = rng.randint(5, 9)
        n = rng.randint(2 * gpu_num, 3 * gpu_num)
        models = [
            {"name": f"m{i}", "size": rng.randint(10, 29), "rate": rng.randint(1, 9), "slo": rng.randint(5, 9)}
            for i in range(n)
        ]
        if _fits([m["size"] for m in models], gpu_num):
            cases.append({"gpu_num": gpu_num, "models": models})
    return cases


def pressures(case, gpus):
    """KV-cache pressure of each GPU: sum(rate/slo) / (GPU_MEM - sum(size)); 0 for an empty GPU."""
    out = []
    for members in gpus:
        size = sum(case["models"][i]["size"] for i in members)
        demand = sum(case["models"][i]["rate"] / case["models"][i]["slo"] for i in members)
        out.append(demand / (GPU_MEM - size) if members else 0.0)
    return out


def lower_bound(case):
    """No placement beats total demand / total free memory (the max of ratios >= their mediant)."""
    demand = sum(m["rate"] / m["slo"] for m in case["models"])
    free = GPU_MEM * case["gpu_num"] - sum(m["size"] for m in case["models"])
    return demand / free
