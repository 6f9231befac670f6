"""Score an EPLB candidate: balancedness of its expert placement on the next window of load,
plus a small reward for a fast algorithm.

The candidate only returns phy2log (for each case and layer, the logical expert held by every
physical slot). Replica counts, GPU loads and balancedness are computed here from the
evaluator's own load data; the runtime is measured here, around the candidate's process.
"""

import os
import shutil
import tempfile

import numpy as np
import workload as W
from evolve_eval import CandidateError, run_candidate

BALANCE_WEIGHT = 0.9
SPEED_WEIGHT = 0.1
SPEED_REF_MS = 1.0  # ms per layer at which the speed term is 0.5
TIMEOUT = 40
# A bare program the evaluator writes itself: its run time on the same inputs (interpreter start,
# reading the inputs) is subtracted from the candidate's. It is never the candidate's code, so a
# candidate cannot inflate the part that is subtracted.
STUB = "def run(*args):\n    return []\n"


def _check(phy2log, num_layers):
    """Return (array, None) or (None, reason) for one case's phy2log."""
    if not isinstance(phy2log, list) or len(phy2log) != num_layers:
        got = len(phy2log) if isinstance(phy2log, list) else type(phy2log).__name__
        return None, f"expected {num_layers} layers, got {got}"
    for layer, row in enumerate(phy2log):
        if not isinstance(row, list) or len(row) != W.NUM_REPLICAS:
            got = len(row) if isinstance(row, list) else type(row).__name__
            return None, f"layer {layer}: expected {W.NUM_REPLICAS} slots, got {got}"
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in row):
            return None, f"layer {layer}: slot entries must be integer expert ids"
    arr = np.array(phy2log, dtype=np.int64)
    bad = (arr < 0) | (arr >= W.NUM_EXPERTS)
    if bad.any():
        layer, slot = map(int, np.argwhere(bad)[0])
        return None, f"layer {layer} slot {slot}: expert id {int(arr[layer, slot])} out of range 0..{W.NUM_EXPERTS - 1}"
    for layer in range(num_layers):
        counts = np.bincount(arr[layer], minlength=W.NUM_EXPERTS)
        missing = np.flatnonzero(counts == 0)
        if missing.size:
            return None, (
                f"layer {layer}: logical expert {int(missing[0])} has no replica "
                f"({missing.size} experts unplaced); every expert needs at least one slot"
            )
    return arr, None


def balancedness(arr, loads):
    """Per-layer mean/max GPU load when each expert's tokens split evenly over its replicas."""
    loads = np.asarray(loads, dtype=float)
    layers = arr.shape[0]
    counts = np.stack([np.bincount(arr[layer], minlength=W.NUM_EXPERTS) for layer in range(layers)])
    share = loads / counts  # counts >= 1 (checked)
    slot_load = np.take_along_axis(share, arr, axis=1)
    gpu_load = slot_load.reshape(layers, W.NUM_GPUS, W.NUM_REPLICAS // W.NUM_GPUS).sum(axis=2)
    mx = gpu_load.max(axis=1)
    return np.where(mx > 0, gpu_load.mean(axis=1) / np.maximum(mx, 1e-12), 1.0)


def _stub_seconds(args):
    folder = tempfile.mkdtemp(prefix="eplb-stub-")
    path = os.path.join(folder, "stub.py")
    with open(path, "w") as f:
        f.write(STUB)
    try:
        run_candidate(path, "run", args=args, timeout=TIMEOUT)
        return run_candidate.last_seconds
    except CandidateError:
        return 0.0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _score(program_path, seeds):
    cases = W.make_cases(seeds)
    args = ([c["current"] for c in cases], W.NUM_REPLICAS, W.NUM_GROUPS, W.NUM_NODES, W.NUM_GPUS)
    try:
        result = run_candidate(program_path, "run", args=args, timeout=TIMEOUT)
        total = run_candidate.last_seconds
    except CandidateError as exc:
        return {"error": str(exc)}
    overhead = _stub_seconds(args)
    if not isinstance(result, list) or len(result) != len(cases):
        got = len(result) if isinstance(result, list) else type(result).__name__
        return {"error": f"run() must return one phy2log per case ({len(cases)}), got {got}"}

    per_case, worst = [], []
    for i, (case, phy2log) in enumerate(zip(cases, result)):
        arr, reason = _check(phy2log, W.NUM_LAYERS)
        if reason:
            return {"error": f"case {i}: {reason}"}
        bal = balancedness(arr, case["next"])
        seen = balancedness(arr, case["current"])
        per_case.append((float(bal.mean()), float(seen.mean())))
        for layer in np.argsort(bal)[:2]:
            worst.append((float(bal[layer]), i, int(layer), case))

    layers = len(cases) * W.NUM_LAYERS
    ms_per_layer = max(total - overhead, 0.0) * 1000 / layers
    speed = 1.0 / (1.0 + ms_per_layer / SPEED_REF_MS)
    bal_next = float(np.mean([b for b, _ in per_case]))
    bal_seen = float(np.mean([s for _, s in per_case]))
    score = BALANCE_WEIGHT * bal_next + SPEED_WEIGHT * speed

    worst.sort(key=lambda w: w[0])
    worst_text = "; ".join(
        f"case {i} (skew {c['skew']:.2f}, drift {c['drift']:.2f}) layer {layer}: {b:.3f}"
        for b, i, layer, c in worst[:3]
    )
    return {
        "score": score,
        "balancedness": bal_next,
        "balancedness_current_window": bal_seen,
        "worst_balancedness": worst[0][0],
        "speed": speed,
        "ms_per_layer": ms_per_layer,
        "seconds": total,
        "feedback": (
            f"Balancedness on the next window {bal_next:.4f} (on the window you saw {bal_seen:.4f}); "
            f"algorithm time {ms_per_layer:.3f} ms per layer (speed term {speed:.3f}). "
            f"score = {BALANCE_WEIGHT} * balancedness + {SPEED_WEIGHT} * speed. "
            f"Worst layers: {worst_text}. Per case: " + ", ".join(f"{i}: {b:.3f}" for i, (b, _) in enumerate(per_case))
        ),
    }


def evaluate(program_path):
    return _score(program_path, W.TRAIN_SEEDS)


def evaluate_heldout(program_path):
    return _score(program_path, W.HELDOUT_SEEDS)
