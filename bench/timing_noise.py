"""Timing noise: how much the c_matmul reference disagrees with itself, pinned and not, by CPU
time and by wall-clock time, and how often the evaluation's rule calls it faster or slower.

Each configuration runs `evaluate.measure_spread` of problems/c_matmul a few times in the Docker
sandbox: the initial program at n=512 as three interleaved series (reference, "candidate",
reference again; the same binary), 20 measured rounds after 2 warm-up rounds, exactly as an
evaluation times a candidate. Reported per configuration and clock:

- the spread of the reference over its 20 runs (IQR and MAD relative to the median, and the
  range), the median over the evaluations;
- A/A trials: every window of 5 consecutive rounds is scored as an evaluation would score it
  (timing.speedup of the middle series against the two others); a trial whose speed-up is
  credited (beyond the noise) is a false result, since all three series are one program.

Usage: python bench/timing_noise.py [--evaluations 3] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "evaluators")]

from timing import Timing, speedup  # noqa: E402 - the evaluators' own helper, from its folder

from evolve.problem import load_problem  # noqa: E402
from evolve.sandbox import make_sandbox  # noqa: E402
from evolve.sandbox.template import evaluation_template  # noqa: E402

WINDOW = 5  # rounds per A/A trial: what one evaluation measures per size
SERIES = ("reference", "candidate", "reference_again")


@dataclass(frozen=True)
class Figures:
    config: str
    clock: str
    median_ms: float
    iqr_pct: float
    mad_pct: float
    range_pct: float
    trials: int
    false_results: int
    noise_pct: float  # the median noise the rule estimated over the trials


def spread_samples(pinned: bool, evaluations: int) -> list[dict[str, list[float]]]:
    """The samples of `evaluations` runs of measure_spread, each in a fresh container."""
    problem = load_problem(ROOT / "problems" / "c_matmul")
    template = evaluation_template(problem, "docker")
    request = replace(
        template,
        code=problem.initial_code,
        function="measure_spread",
        cascade=(),
        limits=replace(template.limits, pin_cpus=pinned),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = make_sandbox("docker")
    try:
        found = []
        for _ in range(evaluations):
            outcome = box.evaluate(request)
            if not outcome.ok:
                raise SystemExit(f"measure_spread failed: {outcome.reason}\n{outcome.logs[-2000:]}")
            found.append(json.loads(outcome.feedback))
        return found
    finally:
        box.close()


def figures(config: str, clock: str, runs: list[dict[str, list[float]]]) -> Figures:
    spreads, trials, false_results, noises = [], 0, 0, []
    for samples in runs:
        series = {name: samples[f"{clock}_{name}"] for name in SERIES}
        reference = Timing(tuple(series["reference"]))
        spreads.append(
            (
                reference.median,
                reference.relative_iqr,
                reference.mad / reference.median,
                (max(reference.samples) - min(reference.samples)) / reference.median,
            )
        )
        for start in range(0, len(series["reference"]) - WINDOW + 1, WINDOW):
            window = {name: Timing(tuple(values[start : start + WINDOW])) for name, values in series.items()}
            result = speedup(window["candidate"], window["reference"], window["reference_again"])
            trials += 1
            false_results += result.faster or result.slower
            noises.append(result.noise)
    median = [statistics.median(column) for column in zip(*spreads)]
    return Figures(
        config,
        clock,
        median[0] * 1000,
        100 * median[1],
        100 * median[2],
        100 * median[3],
        trials,
        false_results,
        100 * statistics.median(noises),
    )


def table(rows: list[Figures]) -> str:
    lines = [
        "| sandbox | clock | median | IQR | MAD | range | A/A trials credited (false) | median noise |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.config} | {r.clock} | {r.median_ms:.1f} ms | {r.iqr_pct:.1f}% | {r.mad_pct:.1f}% | "
            f"{r.range_pct:.1f}% | {r.false_results} of {r.trials} | {r.noise_pct:.1f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=3, help="measure_spread runs per configuration")
    parser.add_argument("--write", type=Path, help="append the section to this Markdown file")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    for config, pinned in (("Docker, pinned (pin_cpus)", True), ("Docker, not pinned", False)):
        runs = spread_samples(pinned, args.evaluations)
        rows += [figures(config, clock, runs) for clock in ("cpu", "wall")]
        print(table(rows[-2:]).splitlines()[-1], flush=True)
    load_after = os.getloadavg()[0]
    machine = f"{platform.machine()} / Python {platform.python_version()} / {os.cpu_count()} CPUs"
    section = f"""
## Timing noise

The c_matmul reference (its initial program, n=512) measured against itself as an evaluation
measures a candidate: three interleaved series of one binary (reference, "candidate", reference
again), 20 rounds after 2 warm-up rounds, {args.evaluations} evaluations per configuration, each
in a fresh container (`evaluate.measure_spread`). Spread: the reference's 20 runs (IQR, MAD and
range relative to the median), the median over the evaluations. A/A trials: each window of
{WINDOW} rounds scored by the evaluation's rule (`evaluators/timing.py` `speedup`: faster or slower
only beyond the noise); every credited trial is a false result. CPU time is the run's whole
process tree (what c_matmul scores by); wall is exec to exit. Machine: {machine}, load average
{load_before:.1f} at the start and {load_after:.1f} at the end (other work shared it).

Command: `python bench/timing_noise.py --evaluations {args.evaluations} --write bench/RESULTS.md`

{table(rows)}
"""
    print(section)
    if args.write:
        with args.write.open("a") as f:
            f.write(section)


if __name__ == "__main__":
    main()
