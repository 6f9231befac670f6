"""Seeded MoE expert-load windows for the EPLB problem.

Each case is one model-and-traffic mix: per layer, a popularity over the logical experts
(lognormal, with hot and cold expert groups), observed over two consecutive windows. The
candidate sees the first window; the evaluator scores its placement on the second, where
popularity has drifted and token counts carry sampling noise.
"""

import numpy as np

NUM_EXPERTS = 256  # logical experts per layer (DeepSeek-V3)
NUM_REPLICAS = 288  # physical expert slots per layer (256 + 32 redundant)
NUM_GROUPS = 8  # expert groups (group-limited routing)
NUM_NODES = 4
NUM_GPUS = 32  # 9 slots per GPU, 8 GPUs per node
NUM_LAYERS = 58  # MoE layers of DeepSeek-V3
TOKENS = 8192 * 8  # routed token-expert assignments per layer per window (top-8)

TRAIN_SEEDS = tuple(range(4))
HELDOUT_SEEDS = tuple(range(1000, 1004))


def make_case(seed):
    """One case: {'seed', 'current', 'next', 'skew', 'drift'}; loads are int lists [layers][experts]."""
    rng = np.random.default_rng(seed)
    skew = float(rng.uniform(0.6, 1.5))
    drift = float(rng.uniform(0.1, 0.45))
    current, upcoming = [], []
    for _ in range(NUM_LAYERS):
        group_bias = np.repeat(rng.normal(0.0, 0.5 * skew, NUM_GROUPS), NUM_EXPERTS // NUM_GROUPS)
        logits = rng.normal(0.0, skew, NUM_EXPERTS) + group_bias
        # a few experts that are nearly never routed to
        cold = rng.random(NUM_EXPERTS) < 0.03
        logits[cold] -= 8.0
        p = np.exp(logits - logits.max())
        p /= p.sum()
        current.append(rng.multinomial(TOKENS, p))
        logits2 = logits + rng.normal(0.0, drift, NUM_EXPERTS)
        p2 = np.exp(logits2 - logits2.max())
        p2 /= p2.sum()
        upcoming.append(rng.multinomial(TOKENS, p2))
    return {
        "seed": seed,
        "skew": skew,
        "drift": drift,
        "current": np.array(current, dtype=np.int64).tolist(),
        "next": np.array(upcoming, dtype=np.int64).tolist(),
    }


def make_cases(seeds):
    return [make_case(s) for s in seeds]
