"""Place LLMs on GPUs so that the worst KV-cache pressure is as low as possible.

Each model has a size (GB of weights), a request rate and an SLO. A GPU has 80 GB; what the
weights leave free holds the KV cache. The KV-cache pressure of a GPU is
sum(rate / slo) / (80 - sum(size)) over its models; the evaluator scores the maximum over GPUs.
Every model must be placed on exactly one GPU, and the models on a GPU must total under 80 GB.
"""

GPU_MEM = 80


# EVOLVE-BLOCK-START
def compute_model_placement(gpu_num, models):
    """Return a list of gpu_num lists: the indices (into models) of the models on each GPU.

    models[i] = {"name": str, "size": GB, "rate": requests/s, "slo": s}.
    Greedy: models by decreasing rate/slo, each onto the GPU with the lowest current pressure
    that has room for it.
    """
    order = sorted(range(len(models)), key=lambda i: models[i]["rate"] / models[i]["slo"], reverse=True)
    gpus = [[] for _ in range(gpu_num)]
    used = [0] * gpu_num
    demand = [0.0] * gpu_num
    for i in order:
        m = models[i]
        room = [g for g in range(gpu_num) if used[g] + m["size"] < GPU_MEM]
        if not room:
            raise ValueError(f"model {m['name']} fits on no GPU")
        g = min(room, key=lambda g: demand[g] / (GPU_MEM - used[g]))
        gpus[g].append(i)
        used[g] += m["size"]
        demand[g] += m["rate"] / m["slo"]
    return gpus


# EVOLVE-BLOCK-END


def run(cases):
    """Entry point called by the evaluator: one placement per case."""
    return [compute_model_placement(c["gpu_num"], c["models"]) for c in cases]
