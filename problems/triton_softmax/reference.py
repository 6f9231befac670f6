"""The inputs and the check of triton_softmax, on the CPU with numpy (no GPU needed: tested here).

The harness in softmax.py makes each input on the candidate's side from its seed with the same
generator as `base_input`, so the evaluator can recompute any row itself: the check never takes
the candidate's word for its input.
"""

from __future__ import annotations

import math

import numpy as np

ATOL = 1e-6  # float32 softmax: tiny entries may underflow to zero
RTOL = 1e-4  # relative to each entry: exp and the sum in float32 over up to 16k columns


def base_input(rows: int, cols: int, seed: int) -> np.ndarray:
    """The harness's input for (rows, cols, seed): the same numbers numpy makes everywhere."""
    rng = np.random.default_rng([seed, rows, cols])
    return rng.standard_normal((rows, cols), dtype=np.float32)


def softmax_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (the reference)."""
    z = x.astype(np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def check_rows(rows: int, cols: int, seed: int, picked: list[int], got) -> str | None:
    """None when `got` holds rows `picked` (mod rows) of softmax(base_input(...)), else what is wrong."""
    if not isinstance(got, list) or len(got) != len(picked):
        return f"{rows}x{cols}: expected {len(picked)} checked rows, got {type(got).__name__}"
    for row_values in got:
        if not isinstance(row_values, list) or len(row_values) != cols:
            return f"{rows}x{cols}: an output row does not have {cols} values"
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in row_values):
            return f"{rows}x{cols}: an output row holds a value that is not a finite number"
    index = [r % rows for r in picked]
    expected = softmax_rows(base_input(rows, cols, seed)[index])
    actual = np.asarray(got, dtype=np.float64)
    excess = np.abs(actual - expected) - (ATOL + RTOL * np.abs(expected))
    if excess.max() > 0:
        k, j = np.unravel_index(int(excess.argmax()), excess.shape)
        return (
            f"{rows}x{cols}: y[{index[k]}][{j}] = {actual[k, j]:.7g} but softmax gives {expected[k, j]:.7g} "
            f"(allowed {ATOL:g} + {RTOL:g} relative)"
        )
    return None


def check_samples(samples, rounds: int) -> str | None:
    """The harness's timings: `rounds` positive finite milliseconds per program."""
    for name in ("reference", "candidate", "reference_again"):
        values = samples.get(name) if isinstance(samples, dict) else None
        if not isinstance(values, list) or len(values) != rounds:
            return f"the harness returned no {rounds} timings of {name}"
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
            return f"a timing of {name} is not a positive number"
    return None
