"""problems/triton_softmax: what runs without a GPU (the folder, evolve check's refusal, the check of
outputs and the evaluator's whole path with a numpy stand-in for the harness), and, marked `gpu`,
the real kernel where a GPU is present."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evolve.check import local_gpus
from evolve.problem import load_problem
from evolve.sandbox import EvalRequest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "problems" / "triton_softmax"
HAS_GPU = local_gpus() > 0

sys.path.insert(0, str(FOLDER))
import reference  # noqa: E402 - the problem's own module, numpy only

# A stand-in for softmax.py with the harness's interface, in numpy: what the GPU harness returns,
# made on the CPU, so the evaluator's checks and scoring run here. `SPOIL` breaks one output row.
STAND_IN = """
import numpy as np

SPEEDUP = {speedup}
SPOIL = {spoil}


def _input(rows, cols, seed):
    return np.random.default_rng([seed, rows, cols]).standard_normal((rows, cols), dtype=np.float32)


def _softmax(x):
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def benchmark(cases, check_rows, warmup=3, rounds=7, calls=10):
    results = []
    for case in cases:
        rows, cols, seed = case["rows"], case["cols"], case["seed"]
        picked = [r % rows for r in check_rows]
        checked = []
        for k in range(3):
            y = _softmax(_input(rows, cols, seed + k)[picked])
            if SPOIL:
                y[0, 0] += 0.01
            checked.append(y.tolist())
        torch_ms = [0.100, 0.101, 0.099, 0.100, 0.102, 0.100, 0.098]
        samples = {{
            "reference": torch_ms,
            "candidate": [t / SPEEDUP for t in torch_ms],
            "reference_again": torch_ms[::-1],
        }}
        results.append({{"samples": samples, "rows": checked}})
    return {{"device": "numpy stand-in", "results": results}}
"""


@pytest.fixture(scope="module")
def problem():
    return load_problem(FOLDER)


def test_the_folder_loads_as_a_gpu_problem(problem):
    ev = problem.config.evaluation
    assert problem.language == "python" and ev.gpus == 1 and ev.heldout_function == "evaluate_heldout"
    assert (FOLDER / "Dockerfile").is_file() and "@triton.jit" in problem.initial_code


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU: the gpu tests check the problem instead")
def test_evolve_check_refuses_it_in_one_line_without_a_gpu():
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "check", str(FOLDER), "--sandbox", "process"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "problem.toml: evaluation.gpus = 1, but this machine has no GPU" in lines[0]


def test_rows_of_a_correct_softmax_pass_the_check():
    picked = [5, 1 << 20, 77]
    x = reference.base_input(64, 300, 3)[[p % 64 for p in picked]]
    z = np.exp(x - x.max(axis=1, keepdims=True))
    got = (z / z.sum(axis=1, keepdims=True)).astype(np.float32).tolist()  # float32, as the GPU gives
    assert reference.check_rows(64, 300, 3, picked, got) is None


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (lambda rows: [r[:-1] for r in rows], "does not have 300 values"),
        (lambda rows: rows[:-1], "expected 3 checked rows"),
        (lambda rows: [[float("nan"), *r[1:]] for r in rows], "not a finite number"),
        (lambda rows: [[v + 1e-3 for v in r] for r in rows], "but softmax gives"),
        (lambda rows: [[True, *r[1:]] for r in rows], "not a finite number"),
        (lambda rows: "rows", "expected 3 checked rows"),
    ],
)
def test_wrong_rows_are_named(spoil, expected):
    picked = [0, 1, 2]
    good = reference.softmax_rows(reference.base_input(8, 300, 1)[picked]).tolist()
    assert expected in reference.check_rows(8, 300, 1, picked, spoil(good))


def test_timings_must_be_positive_and_complete():
    good = {name: [0.1] * 7 for name in ("reference", "candidate", "reference_again")}
    assert reference.check_samples(good, 7) is None
    assert "no 7 timings of candidate" in reference.check_samples({**good, "candidate": [0.1] * 6}, 7)
    assert "not a positive number" in reference.check_samples({**good, "reference": [0.1] * 6 + [0.0]}, 7)


def test_the_evaluator_scores_a_stand_in_harness_on_the_cpu(problem, sandbox):
    out = sandbox.evaluate(EvalRequest.for_problem(problem, STAND_IN.format(speedup=1.5, spoil=False)))
    assert out.ok, out.reason
    assert out.score == pytest.approx(1.5)
    assert out.metrics["speedup_1024x8192"] == pytest.approx(1.5) and "numpy stand-in" in out.feedback
    same = sandbox.evaluate(EvalRequest.for_problem(problem, STAND_IN.format(speedup=1.005, spoil=False)))
    assert same.ok and same.score == 1.0  # within the noise: counts as no gain


def test_the_evaluator_rejects_a_wrong_row(problem, sandbox):
    out = sandbox.evaluate(EvalRequest.for_problem(problem, STAND_IN.format(speedup=2.0, spoil=True)))
    assert not out.ok and "wrong softmax" in out.reason and "but softmax gives" in out.reason


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs an NVIDIA GPU")
def test_evolve_check_scores_the_kernel_on_the_gpu():
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "check", str(FOLDER), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["score"] > 0 and result["heldout_score"] is not None


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs an NVIDIA GPU")
def test_a_wrong_kernel_is_rejected_on_the_gpu(problem, tmp_path):
    wrong = problem.initial_code.replace("numerator / denominator", "numerator / (denominator + 1.0)")
    path = tmp_path / "softmax.py"
    path.write_text(wrong)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "eval", str(FOLDER), str(path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["ok"] and "wrong softmax" in result["reason"]
