"""Score a C matrix multiply by its speed-up over the initial program, measured in this container.

The candidate (matmul.c) and the reference (the problem's own initial matmul.c) are compiled with
the same fixed command (native.compile_command) by a confined compiler. For each size, both run
as separate confined processes on seeded random matrices: a first run of each (a warm-up, and the
candidate's output checked), then rounds of reference, candidate, reference again, the order
reversed every other round (timing.measure_interleaved). Every candidate output is checked against
numpy's product to the rounding error a classical product may have. The speed-up per size is the
reference's median time over the candidate's; within the noise (how far the reference disagrees
with itself, and the error of the medians: timing.speedup) it counts as 1.0. The score is the
geometric mean over the sizes.

Stages: `compile_only` (the cascade's first stage: a candidate that does not compile stops there,
with the compiler's first errors as feedback), `evaluate` (training sizes), `evaluate_heldout`
(other sizes, never seen by evolution), and `measure_spread` (the noise of this machine, for
bench/timing_noise.py).
"""

# No `from __future__ import annotations`: the runner loads this file as a module that is not in
# sys.modules, where dataclasses cannot resolve string annotations.
import hashlib
import json
import math
import os
from dataclasses import dataclass

import native
import numpy as np
from timing import Speedup, Timing, cpu_affinity, measure_interleaved, speedup

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "matmul.c")  # the initial program: every candidate is timed against it
SOURCE_NAME = "matmul.c"

TRAIN_SIZES = (256, 384, 512)
HELDOUT_SIZES = (320, 448, 576)
TRAIN_SEED = 1729
HELDOUT_SEED = 8128
SPREAD_SIZE = 512

# The clock: the CPU time of the run's processes. On a machine shared with other work (a loaded
# CI box, two evaluations on one core) a run's wall-clock time includes the time it waited for
# the CPU, which has nothing to do with the program; its CPU time does not (bench/timing_noise.py
# measures both). The wall-clock time of each candidate is reported beside it.
CLOCK = "cpu"  # or "wall"
REPEATS = 5  # measured rounds per size, after the first run of each program
CLEARLY_SLOWER = 4.0  # a first run this many times slower than the reference's is not measured further
RUN_LIMIT = 20.0  # one candidate run may take this many times the reference's first run ...
RUN_LIMIT_MIN = 2.0  # ... but at least this many seconds
UNIT_ROUNDOFF = 2.0**-53

_launcher: native.Launcher | None = None
_compiled: dict[str, native.Compiled] = {}  # by source hash: the cascade's stages share one process


class CandidateError(Exception):
    """The candidate failed: the message is the evaluation's reason."""

    def __init__(self, reason: str, feedback: str = ""):
        super().__init__(reason)
        self.feedback = feedback


def _launch() -> native.Launcher:
    global _launcher
    if _launcher is None:
        _launcher = native.Launcher()
    return _launcher


def _compile(path: str) -> native.Compiled:
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest not in _compiled:
        _compiled[digest] = _launch().compile(path, SOURCE_NAME)
    return _compiled[digest]


def _compiled_or_error(path: str) -> native.Compiled:
    compiled = _compile(path)
    if not compiled.ok:
        lines = compiled.messages.splitlines() or ["no message"]
        first = next((line for line in lines if "error" in line), lines[0])
        raise CandidateError(
            f"does not compile: {first}"[:400],
            f"The program does not compile with `{' '.join(native.compile_command(SOURCE_NAME, 'matmul'))}`:\n"
            + compiled.messages,
        )
    return compiled


# -- inputs and checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    n: int
    input_path: str  # A then B, float64, row-major
    product: np.ndarray
    bound: np.ndarray  # the largest error a classical product may have, per entry


def _case(n: int, seed: int) -> Case:
    rng = np.random.default_rng([seed, n])
    a = rng.uniform(-1.0, 1.0, (n, n))
    b = rng.uniform(-1.0, 1.0, (n, n))
    path = os.path.join(_launch().scratch, f"input-{seed}-{n}.bin")
    with open(path, "wb") as f:
        f.write(a.tobytes())
        f.write(b.tobytes())
    # Any order of summation gives |computed - exact| <= gamma_n |A||B| (gamma_n = n u / (1 - n u));
    # numpy's own product has the same bound, so the two may differ by twice it.
    gamma = n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)
    return Case(n, path, a @ b, 2 * gamma * (np.abs(a) @ np.abs(b)) + 1e-300)


def _check_output(case: Case, path: str) -> str | None:
    """None when the file holds the product to within the bound, else what is wrong."""
    n = case.n
    try:
        size = os.path.getsize(path)
    except OSError:
        return f"n={n}: the program wrote no output"
    if size != n * n * 8:
        return f"n={n}: the output holds {size} bytes, not {n * n * 8} ({n}x{n} doubles)"
    c = np.fromfile(path, dtype=np.float64).reshape(n, n)
    if not np.isfinite(c).all():
        i, j = np.argwhere(~np.isfinite(c))[0]
        return f"n={n}: c[{i}][{j}] is {c[i, j]}"
    excess = np.abs(c - case.product) / case.bound
    if excess.max() > 1.0:
        i, j = np.unravel_index(int(excess.argmax()), excess.shape)
        return (
            f"n={n}: c[{i}][{j}] = {c[i, j]!r} but the product is {case.product[i, j]!r} (error "
            f"{abs(c[i, j] - case.product[i, j]):.3g}, allowed {case.bound[i, j]:.3g}: sum in double precision)"
        )
    return None


def _failure(done: native.Finished, n: int, what: str) -> str:
    if done.timed_out:
        return f"n={n}: {what} ran past {done.seconds:.1f} s and was stopped"
    if done.exit_code is None:
        return f"n={n}: {what} did not start: {done.stderr.strip()[:300]}"
    last = [line for line in done.stderr.strip().splitlines() if line.strip()]
    tail = f" ({last[-1][:200]})" if last else ""
    if done.exit_code < 0:
        return f"n={n}: {what} was killed by signal {-done.exit_code}{tail}"
    return f"n={n}: {what} exited with status {done.exit_code}{tail}"


# -- one size ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeResult:
    n: int
    speedup: Speedup
    candidate: Timing
    reference: Timing
    candidate_wall: Timing  # the candidate's wall-clock times, for the record
    measured: bool  # False: clearly slower after one run, not measured further


class _Runs:
    """The runs of one size: the reference unchecked (it is the problem's own program), every
    candidate run checked (outputs identical to the first checked one pass at once)."""

    def __init__(self, case: Case, reference: str, candidate: str, limit: float):
        self.case, self.reference, self.candidate, self.limit = case, reference, candidate, limit
        self.checked: bytes | None = None
        self.candidate_walls: list[float] = []

    def _run(self, binary: str, timeout: float) -> native.Finished:
        argv = [binary, str(self.case.n), self.case.input_path, "out.bin"]
        return _launch().run(argv, binary, readable=(self.case.input_path,), timeout=timeout)

    def reference_run(self) -> float:
        done = self._run(self.reference, max(60.0, self.limit))
        native.remove(done)
        if not done.ok:
            raise RuntimeError(_failure(done, self.case.n, "the reference (initial program)"))
        return _clock(done)

    def candidate_run(self) -> float:
        done = self._run(self.candidate, self.limit)
        try:
            if not done.ok:
                raise CandidateError(_failure(done, self.case.n, "the program"))
            path = os.path.join(done.workdir, "out.bin")
            digest = _digest(path)
            if digest != self.checked:
                problem = _check_output(self.case, path)
                if problem:
                    raise CandidateError(f"wrong product: {problem}")
                self.checked = digest
        finally:
            native.remove(done)
        self.candidate_walls.append(done.seconds)
        return _clock(done)


def _clock(done: native.Finished) -> float:
    return done.cpu_seconds if CLOCK == "cpu" else done.seconds


def _digest(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).digest()
    except OSError:
        return b""


def _time_size(reference: str, candidate: str, case: Case) -> SizeResult:
    runs = _Runs(case, reference, candidate, limit=60.0)
    first_reference = runs.reference_run()
    runs.limit = max(RUN_LIMIT_MIN, RUN_LIMIT * first_reference)
    first_candidate = runs.candidate_run()
    if first_candidate > CLEARLY_SLOWER * first_reference:
        ref, cand = Timing((first_reference,)), Timing((first_candidate,))
        walls = Timing(tuple(runs.candidate_walls))
        return SizeResult(case.n, speedup(cand, ref), cand, ref, walls, measured=False)
    timings = measure_interleaved(
        {"reference": runs.reference_run, "candidate": runs.candidate_run, "reference_again": runs.reference_run},
        warmup=0,
        repeats=REPEATS,
    )
    cand, ref, again = timings["candidate"], timings["reference"], timings["reference_again"]
    walls = Timing(tuple(runs.candidate_walls[1:]))  # the measured runs, not the first
    pooled = Timing(ref.samples + again.samples)
    return SizeResult(case.n, speedup(cand, ref, again), cand, pooled, walls, measured=True)


# -- the stages -------------------------------------------------------------------------------------


def _score(program_path: str, sizes: tuple[int, ...], seed: int) -> dict:
    try:
        candidate = _compiled_or_error(program_path)
        reference = _compile(REFERENCE)
        if not reference.ok:
            raise RuntimeError(f"the initial program does not compile:\n{reference.messages}")
        results = [_time_size(reference.binary, candidate.binary, _case(n, seed)) for n in sizes]
    except CandidateError as exc:
        return {"error": str(exc), "feedback": exc.feedback or _failure_feedback(str(exc))}
    credited = [r.speedup.credited for r in results]
    score = math.exp(sum(math.log(c) for c in credited) / len(credited))
    out: dict = {"score": score, "cpus": len(cpu_affinity()), "binary_kb": os.path.getsize(candidate.binary) / 1024}
    for r in results:
        out[f"speedup_n{r.n}"] = r.speedup.ratio
        out[f"noise_pct_n{r.n}"] = 100.0 * r.speedup.noise
        out.update(r.candidate.summary(f"candidate_n{r.n}"))
        out[f"reference_n{r.n}_ms"] = r.reference.median * 1000.0
        out[f"candidate_n{r.n}_wall_ms"] = r.candidate_wall.median * 1000.0
    out["feedback"] = _feedback(results, score)
    return out


def _failure_feedback(reason: str) -> str:
    return (
        f"{reason}\nThe program must write c = a * b (n x n doubles, row-major) for every n, in double "
        "precision, without reading or writing anything but its arguments."
    )


def _feedback(results: list[SizeResult], score: float) -> str:
    lines = []
    for r in results:
        s = r.speedup
        verdict = "faster" if s.faster else "slower" if s.slower else "within the noise, counts as 1.00x"
        how = f"median of {len(r.candidate.samples)} runs" if r.measured else "one run: clearly slower"
        lines.append(
            f"- n={r.n}: {s.ratio:.2f}x ({verdict}); {r.candidate.median * 1000:.1f} ms against the initial "
            f"program's {r.reference.median * 1000:.1f} ms ({how}, noise +-{100 * s.noise:.1f}%)"
        )
    return (
        f"Correct on every size. Speed-up over the initial program ({CLOCK} time), measured in the same container:\n"
        + "\n".join(lines)
        + f"\nScore: the geometric mean of the speed-ups, {score:.3f}."
    )


def compile_only(program_path):
    """The cascade's first stage: compile, nothing else (a fraction of a second)."""
    try:
        compiled = _compiled_or_error(program_path)
    except CandidateError as exc:
        return {"error": str(exc), "feedback": exc.feedback}
    return {"score": 1.0, "compile_seconds": compiled.seconds}


def evaluate(program_path):
    return _score(program_path, TRAIN_SIZES, TRAIN_SEED)


def evaluate_heldout(program_path):
    return _score(program_path, HELDOUT_SIZES, HELDOUT_SEED)


def measure_spread(program_path, repeats=20, warmup=2):
    """How noisy timing is here (bench/timing_noise.py): the program at n=512 as three series,
    measured as an evaluation measures a reference, a candidate and the reference again, for
    `repeats` rounds after `warmup`. Returns every sample, CPU and wall-clock, as JSON in
    `feedback` (the one text a result carries); the score is minus the relative IQR of the first
    series' CPU times."""
    compiled = _compile(program_path)
    if not compiled.ok:
        return {"error": f"does not compile: {compiled.messages[:300]}"}
    case = _case(SPREAD_SIZE, TRAIN_SEED)
    samples: dict[str, list[float]] = {}

    def series(name: str):
        def run() -> float:
            done = _launch().run(
                [compiled.binary, str(case.n), case.input_path, "out.bin"],
                compiled.binary,
                readable=(case.input_path,),
                timeout=60.0,
            )
            native.remove(done)
            if not done.ok:
                raise RuntimeError(_failure(done, case.n, "the program"))
            samples.setdefault(f"wall_{name}", []).append(done.seconds)
            samples.setdefault(f"cpu_{name}", []).append(done.cpu_seconds)
            return done.cpu_seconds

        return run

    names = ("reference", "candidate", "reference_again")
    measure_interleaved({name: series(name) for name in names}, warmup=warmup, repeats=repeats)
    kept = {key: values[warmup:] for key, values in samples.items()}  # the measured rounds only
    first = Timing(tuple(kept["cpu_reference"]))
    text = json.dumps({key: [round(v, 7) for v in values] for key, values in kept.items()})
    return {"score": -first.relative_iqr, "cpus": len(cpu_affinity()), "feedback": text}
