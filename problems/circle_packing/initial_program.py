"""Pack 26 circles in the unit square so that the sum of their radii is as large as possible."""

import numpy as np

N = 26


# EVOLVE-BLOCK-START
def place_centers():
    """Centres on a staggered grid of 5 rows, inset from the walls."""
    rows = [5, 6, 5, 5, 5]
    margin = 0.1
    centers = []
    for r, count in enumerate(rows):
        y = margin + r * (1 - 2 * margin) / (len(rows) - 1)
        offset = 0.05 if r % 2 else 0.0
        for c in range(count):
            x = margin + offset + c * (1 - 2 * margin - offset) / max(count - 1, 1)
            centers.append((x, y))
    return np.array(centers[:N])


def radii_for(centers):
    """Largest radii that keep every circle inside the square and apart from the others."""
    radii = np.minimum.reduce([centers[:, 0], centers[:, 1], 1 - centers[:, 0], 1 - centers[:, 1]])
    for _ in range(3):
        for i in range(len(centers)):
            for j in range(i + 1, len(centers)):
                d = np.linalg.norm(centers[i] - centers[j])
                if radii[i] + radii[j] > d:
                    scale = d / (radii[i] + radii[j])
                    radii[i] *= scale
                    radii[j] *= scale
    return radii


# EVOLVE-BLOCK-END


def construct_packing():
    centers = place_centers()
    radii = radii_for(centers)
    return centers, radii


if __name__ == "__main__":
    c, r = construct_packing()
    print(f"sum of radii: {r.sum():.4f}")
