"""Score a Triton softmax kernel by its speed-up over torch.softmax, timed on the GPU in one process.

The candidate's frozen harness (`benchmark` in softmax.py) runs in its own process through
`run_candidate`, makes each input from its seed, times torch.softmax, the candidate and
torch.softmax again in interleaved rounds with CUDA events (the L2 cache flushed before every call),
and returns the timings and some output rows of the timed calls. The rows to return are drawn
here from os.urandom, and every returned row is checked against a float64 softmax of the same
input recomputed here (reference.py). The speed-up per shape is torch's median time over the
candidate's; within the noise (timing.speedup: torch measured against itself, and the error of the
medians) it counts as 1.0. The score is the geometric mean over the shapes.

The candidate runs unconfined (`confine=False`): Landlock would deny it the GPU's device files
(/dev/nvidia*, read-write with ioctls), which confine.py cannot grant yet. The container is the
wall; see the README.
"""

import math
import os
import random

import reference
from evolve_eval import CandidateError, run_candidate
from timing import Timing, speedup

# (rows, cols): rows of a batch of attention scores or logits, row lengths to 16k
TRAIN_SHAPES = ((4096, 1024), (2048, 4096), (1024, 8192))
HELDOUT_SHAPES = ((8192, 512), (4096, 2048), (512, 16384))
TRAIN_SEED = 11
HELDOUT_SEED = 9001
ROUNDS = 7
CHECKED_ROWS = 6
TIMEOUT = 240  # torch's import, one Triton compile per row length, the timing


def _score(program_path, shapes, seed):
    rng = random.Random(os.urandom(16))  # which rows are checked: unpredictable
    picked = [rng.randrange(1 << 30) for _ in range(CHECKED_ROWS)]
    cases = [{"rows": r, "cols": c, "seed": seed + 10 * i} for i, (r, c) in enumerate(shapes)]
    try:
        out = run_candidate(
            program_path, "benchmark", args=(cases, picked), kwargs={"rounds": ROUNDS}, timeout=TIMEOUT, confine=False
        )
    except CandidateError as exc:
        return {"error": str(exc), "feedback": str(exc)}
    results = out.get("results") if isinstance(out, dict) else None
    if not isinstance(results, list) or len(results) != len(cases):
        return {"error": "benchmark() must return one result per shape"}
    lines, credited, metrics = [], [], {}
    for case, result in zip(cases, results):
        rows, cols, case_seed = case["rows"], case["cols"], case["seed"]
        samples = result.get("samples") if isinstance(result, dict) else None
        problem = reference.check_samples(samples, ROUNDS)
        checked = result.get("rows") if isinstance(result, dict) else None
        if problem is None and (not isinstance(checked, list) or len(checked) != 3):
            problem = f"{rows}x{cols}: no checked rows for each of the 3 inputs"
        for k in range(3):
            problem = problem or reference.check_rows(rows, cols, case_seed + k, picked, checked[k])
        if problem:
            return {"error": f"wrong softmax: {problem}", "feedback": f"wrong softmax: {problem}"}
        cand, ref, again = (Timing(tuple(samples[n])) for n in ("candidate", "reference", "reference_again"))
        s = speedup(cand, ref, again)
        credited.append(s.credited)
        key = f"{rows}x{cols}"
        metrics[f"speedup_{key}"] = s.ratio
        metrics[f"candidate_us_{key}"] = cand.median * 1000
        metrics[f"torch_us_{key}"] = Timing(ref.samples + again.samples).median * 1000
        metrics[f"noise_pct_{key}"] = 100 * s.noise
        verdict = "faster" if s.faster else "slower" if s.slower else "within the noise, counts as 1.00x"
        lines.append(
            f"- {key}: {s.ratio:.2f}x ({verdict}); {cand.median * 1000:.1f} us against torch.softmax's "
            f"{metrics[f'torch_us_{key}']:.1f} us (noise +-{100 * s.noise:.1f}%)"
        )
    score = math.exp(sum(math.log(c) for c in credited) / len(credited))
    feedback = (
        f"Correct on every shape. Speed-up over torch.softmax on {out.get('device', 'the GPU')}, median of "
        f"{ROUNDS} rounds, L2 flushed before each call:\n"
        + "\n".join(lines)
        + f"\nScore: the geometric mean, {score:.3f}."
    )
    return {"score": score, **metrics, "feedback": feedback}


def evaluate(program_path):
    return _score(program_path, TRAIN_SHAPES, TRAIN_SEED)


def evaluate_heldout(program_path):
    return _score(program_path, HELDOUT_SHAPES, HELDOUT_SEED)
