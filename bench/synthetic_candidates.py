"""What a synthetic candidate is made of (bench/make_big_run.py): the initial program, the prompt,
the edits, the failures and rejections, the models and their prices, the feature axes."""

from __future__ import annotations

import random

from evolve.kinds import CallOutcome, FailureKind

INITIAL = '''"""Pack 26 circles in the unit square, maximising the sum of their radii."""
import numpy as np

# EVOLVE-BLOCK-START
def construct_packing():
    n = 26
    centers = np.zeros((n, 2))
    rows = 5
    spacing = 0.19
    margin = 0.1
    jitter = 0.0
    for i in range(n):
        r, c = divmod(i, rows + 1)
        centers[i] = [margin + c * spacing, margin + r * spacing]
    centers += jitter
    radii = compute_max_radii(centers)
    return centers, radii


def compute_max_radii(centers):
    n = centers.shape[0]
    radii = np.minimum.reduce([centers[:, 0], centers[:, 1], 1 - centers[:, 0], 1 - centers[:, 1]])
    scale = 0.5
    for i in range(n):
        for j in range(i + 1, n):
            d = np.linalg.norm(centers[i] - centers[j])
            if radii[i] + radii[j] > d:
                s = d / (radii[i] + radii[j])
                radii[i] *= s * scale + (1 - scale)
                radii[j] *= s * scale + (1 - scale)
    return radii
# EVOLVE-BLOCK-END


def run_packing():
    centers, radii = construct_packing()
    return centers, radii, float(np.sum(radii))
'''

PROMPT = """You are an expert in geometry and numerical optimisation. Improve the program below.
The score is the sum of the radii of 26 non-overlapping circles in the unit square (higher is
better). The best known result is 2.635.

## Current program (score {score:.4f}, island {island}, generation {generation})
```python
{code}
```

## Evaluator feedback
{feedback}

## Inspirations
{inspirations}

Answer with one or more SEARCH/REPLACE blocks:
<<<<<<< SEARCH
(exact lines from the program)
=======
(the new lines)
>>>>>>> REPLACE
"""

IDEAS = [
    "Use a hexagonal arrangement instead of a square grid",
    "Shrink the margin so the outer circles touch the walls",
    "Run a few rounds of local repulsion before computing radii",
    "Scale overlapping pairs more gently",
    "Place larger circles at the corners",
    "Alternate row offsets to pack rows tighter",
]

FAILURES = [  # (kind, what happened, weight)
    (FailureKind.TIMEOUT, "evaluation ran past 60 s and was killed", 0.25),
    (FailureKind.CRASH, "the evaluation ended without a result (exit code 1)", 0.2),
    (FailureKind.EVALUATOR_ERROR, "ValueError: circle 7 lies outside the unit square", 0.2),
    (FailureKind.EVALUATOR_ERROR, "AssertionError: circles 3 and 11 overlap", 0.15),
    (FailureKind.INVALID_RESULT, "no numeric 'score' in the result", 0.1),
    (FailureKind.MEMORY, "the evaluation exceeded its memory limit and was killed", 0.05),
    (FailureKind.CANDIDATE_REJECTED, "construct_packing returned 25 circles, expected 26", 0.05),
]

REJECTS = [
    (CallOutcome.REJECTED, "SEARCH block not found in the parent program"),
    (CallOutcome.REJECTED, "edit outside EVOLVE-BLOCK"),
    (CallOutcome.REJECTED, "no-op edit: the child equals its parent"),
    (CallOutcome.DUPLICATE, "duplicate of program already in the archive"),
]

MODELS = [
    ("gpt-4.1-mini", 0.6, 0.4e-6, 1.6e-6),
    ("claude-sonnet-4", 0.3, 3e-6, 15e-6),
    ("gemini-2.5-flash", 0.1, 0.3e-6, 2.5e-6),
]

FEATURES = [
    {"name": "code_length", "min": 1200.0, "max": 1700.0, "bins": 10},
    {"name": "min_radius", "min": 0.0, "max": 0.1, "bins": 10},
]


def pick(rng: random.Random, items, weight):
    x, acc = rng.random() * sum(weight(i) for i in items), 0.0
    for item in items:
        acc += weight(item)
        if x <= acc:
            return item
    return items[-1]


def mutate(rng: random.Random, code: str, full: bool) -> str:
    lines = code.splitlines()
    start = next(i for i, ln in enumerate(lines) if "EVOLVE-BLOCK-START" in ln) + 1
    end = next(i for i, ln in enumerate(lines) if "EVOLVE-BLOCK-END" in ln)
    for _ in range(4 if full else rng.randint(1, 2)):
        i = rng.randrange(start, end)
        line = lines[i]
        numbers = [tok for tok in line.replace(",", " ").replace(")", " ").split() if is_float(tok)]
        if numbers and rng.random() < 0.7:
            tok = rng.choice(numbers)
            new = f"{float(tok) * rng.uniform(0.8, 1.2):.4g}"
            lines[i] = line.replace(tok, new, 1)
        elif sum(ln.lstrip().startswith("# ") for ln in lines[start:end]) >= 6:
            comments = [j for j in range(start, end) if lines[j].lstrip().startswith("# ")]
            del lines[rng.choice(comments)]  # keep programs near their real size
            end -= 1
        else:
            indent = line[: len(line) - len(line.lstrip())] or "    "
            lines.insert(i, f"{indent}# {rng.choice(IDEAS).lower()}")
            end += 1
    return "\n".join(lines) + "\n"


def is_float(tok: str) -> bool:
    try:
        float(tok)
        return "." in tok
    except ValueError:
        return False


def bin_of(value: float, dim: dict) -> int:
    frac = (value - dim["min"]) / (dim["max"] - dim["min"])
    return max(0, min(dim["bins"] - 1, int(frac * dim["bins"])))
