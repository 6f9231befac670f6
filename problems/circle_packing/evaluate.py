"""Score a circle packing: the sum of radii of 26 disjoint circles inside the unit square.

Every figure is computed here from the centres and radii the candidate returns; nothing the
candidate says about its own score is read.
"""

import math

import numpy as np
from evolve_eval import CandidateError, run_candidate

N = 26
TOLERANCE = 1e-9  # slack for floating-point touching


def evaluate(program_path):
    try:
        value = run_candidate(program_path, "construct_packing", timeout=50)
    except CandidateError as exc:
        return {"error": str(exc)}
    seconds = run_candidate.last_seconds
    if not isinstance(value, list) or len(value) != 2:
        return {"error": "construct_packing() must return (centers, radii)"}
    try:
        centers = np.asarray(value[0], dtype=float)
        radii = np.asarray(value[1], dtype=float)
    except (TypeError, ValueError):
        return {"error": "centers and radii must be numeric arrays"}
    if centers.shape != (N, 2) or radii.shape != (N,):
        return {
            "error": f"expected centers of shape ({N}, 2) and radii of shape ({N},), "
            f"got {centers.shape} and {radii.shape}"
        }
    if not (np.isfinite(centers).all() and np.isfinite(radii).all()):
        return {"error": "centers and radii must be finite"}
    if (radii < 0).any():
        return {"error": f"negative radius for circle {int(np.argmin(radii))}"}

    problems = []
    for i in range(N):
        x, y, r = centers[i, 0], centers[i, 1], radii[i]
        outside = max(r - x, r - y, x + r - 1, y + r - 1)
        if outside > TOLERANCE:
            problems.append((outside, f"circle {i} sticks out of the square by {outside:.3g}"))
    for i in range(N):
        for j in range(i + 1, N):
            gap = math.dist(centers[i], centers[j]) - radii[i] - radii[j]
            if gap < -TOLERANCE:
                problems.append((-gap, f"circles {i} and {j} overlap by {-gap:.3g}"))
    if problems:
        problems.sort(reverse=True)
        worst = "; ".join(text for _, text in problems[:5])
        return {"error": f"{len(problems)} constraint violations; worst: {worst}"}

    total = float(radii.sum())
    smallest = int(np.argmin(radii))
    return {
        "score": total,
        "sum_radii": total,
        "min_radius": float(radii.min()),
        "max_radius": float(radii.max()),
        "seconds": seconds,
        "feedback": (
            f"Valid packing, sum of radii {total:.5f} (best known 2.635). "
            f"Smallest circle: {smallest} with r={radii[smallest]:.4f}; "
            f"radii range {radii.min():.4f}-{radii.max():.4f}."
        ),
    }
