"""Row-wise softmax of a float32 matrix on the GPU, as a Triton kernel.

`softmax(x)` takes a contiguous (rows, cols) float32 CUDA tensor and returns y with
y[i] = exp(x[i] - max(x[i])) / sum(exp(x[i] - max(x[i]))). The frozen harness below the block,
`benchmark(cases, ...)`, is what the evaluator calls: it makes each case's input from its seed,
times softmax against torch.softmax in the same process, and returns the timings and some
output rows for the evaluator to check.
"""

import math

import numpy as np
import torch
import triton
import triton.language as tl

# What the harness times with, bound before the block runs (a block that replaces torch's
# functions does not change the harness's own).
_synchronize = torch.cuda.synchronize
_Event = torch.cuda.Event
_torch_softmax = torch.softmax


# EVOLVE-BLOCK-START
# One program per row: the whole row is loaded into registers (BLOCK_SIZE, the next power of two
# of the row length), reduced for its maximum and its sum of exponentials, and written once.
# The knobs: warps per program (2 ** WARPS_LOG2) and pipelining stages.
WARPS_LOG2 = 2
NUM_STAGES = 2


@triton.jit
def softmax_kernel(out_ptr, in_ptr, in_stride, out_stride, n_cols, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0)
    offsets = tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_cols
    x = tl.load(in_ptr + row * in_stride + offsets, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    numerator = tl.exp(x)
    denominator = tl.sum(numerator, axis=0)
    tl.store(out_ptr + row * out_stride + offsets, numerator / denominator, mask=mask)


def softmax(x):
    n_rows, n_cols = x.shape
    y = torch.empty_like(x)
    block = triton.next_power_of_2(n_cols)
    softmax_kernel[(n_rows,)](
        y, x, x.stride(0), y.stride(0), n_cols, BLOCK_SIZE=block, num_warps=2**WARPS_LOG2, num_stages=NUM_STAGES
    )
    return y


# EVOLVE-BLOCK-END


# The harness: nothing below may change.
def _input(rows, cols, seed):
    rng = np.random.default_rng([seed, rows, cols])
    return torch.from_numpy(rng.standard_normal((rows, cols), dtype=np.float32)).cuda()


def _time_calls(fn, bases, flush, calls, outputs):
    """The mean time (ms) of `calls` calls, each on a fresh copy of the next base input, the L2
    cache flushed before each (every call reads its input from memory, as in use). The last output
    for each base goes into `outputs` (what the evaluator checks: the timed calls' own results)."""
    total = 0.0
    for k in range(calls):
        x = bases[k % len(bases)].clone()  # a new tensor each call: nothing to recognise it by
        flush.zero_()
        start, end = _Event(enable_timing=True), _Event(enable_timing=True)
        start.record()
        y = fn(x)
        end.record()
        _synchronize()
        total += start.elapsed_time(end)
        outputs[k % len(bases)] = y
    return total / calls


def _rows(y, shape, check_rows):
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != shape:
        return None
    picked = y[[r % shape[0] for r in check_rows]].float().cpu().numpy()
    return [[v if math.isfinite(v) else str(v) for v in row] for row in picked.tolist()]


def benchmark(cases, check_rows, warmup=3, rounds=7, calls=10):
    """For each case {rows, cols, seed}: three base inputs (seeds seed, seed+1, seed+2); `warmup`
    calls of each program, then `rounds` rounds of reference, candidate, reference again (the order
    reversed every other round), each sample the mean of `calls` timed calls. Returns the samples
    (ms) and, for each base input, rows `check_rows` of the candidate's last timed output on it."""
    flush = torch.empty(256 * 1024 * 1024 // 4, dtype=torch.float32, device="cuda")
    results = []
    for case in cases:
        rows, cols, seed = case["rows"], case["cols"], case["seed"]
        bases = [_input(rows, cols, seed + k) for k in range(3)]
        programs = {
            "reference": lambda x: _torch_softmax(x, dim=-1),
            "candidate": softmax,
            "reference_again": lambda x: _torch_softmax(x, dim=-1),
        }
        outputs = {name: [None] * len(bases) for name in programs}
        for name, fn in programs.items():
            _time_calls(fn, bases, flush, warmup, outputs[name])
        samples = {name: [] for name in programs}
        names = list(programs)
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                samples[name].append(_time_calls(programs[name], bases, flush, calls, outputs[name]))
        checked = [_rows(y, (rows, cols), check_rows) for y in outputs["candidate"]]
        results.append({"samples": samples, "rows": checked})
        del bases, outputs
    return {"device": torch.cuda.get_device_name(0), "results": results}
