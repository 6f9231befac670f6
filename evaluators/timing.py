"""Timing for evaluators that score speed: warm-up runs, repeated and interleaved measurement,
the median and its spread, and a noise estimate from measuring the reference against itself.

Importable in every sandbox as `timing` (evaluators/ is on evaluate.py's sys.path). A typical
evaluate.py times the candidate between two measurements of a reference in the same container:

    from timing import measure_interleaved, speedup

    timings = measure_interleaved(
        {"reference": run_reference, "candidate": run_candidate_once, "reference_again": run_reference},
        warmup=1, repeats=5,
    )
    result = speedup(timings["candidate"], timings["reference"], timings["reference_again"])
    score = result.credited  # the speed-up, or exactly 1.0 while it is within the noise

A run is a callable. It returns None to be timed here by the wall clock around the call, or the
seconds it measured itself (a run that starts a process and times it from the exec on, without
the cost of starting the launcher). Never take a time from the candidate: a time the candidate
reports is a number it chose.

The figures are robust ones: the median, not the mean (one descheduled run moves a mean, not a
median); the spread as the interquartile range and the median absolute deviation. The noise is
how far the reference disagrees with itself, measured in the same container at the same time,
and the statistical error of the medians; a candidate counts as faster, or slower, only beyond it.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Speedup", "Timing", "cpu_affinity", "measure", "measure_interleaved", "noise", "speedup"]

Run = Callable[[], "float | None"]

# The least relative noise ever assumed: timer resolution, frequency scaling and cache state make
# two identical programs differ by about this much even on an idle, pinned core.
NOISE_FLOOR = 0.01
# The standard error of a median is about 1.253 sigma / sqrt(n) for normal samples; sigma is
# about 1.4826 MAD, or IQR / 1.349. Two standard errors make the band about 95%.
_MEDIAN_SE = 1.253
_MAD_SIGMA = 1.4826
_IQR_SIGMA = 1.349
_BAND = 2.0


@dataclass(frozen=True)
class Timing:
    """The measured durations of one program, in seconds, in the order they were taken."""

    samples: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("a Timing needs at least one sample")

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def quartiles(self) -> tuple[float, float]:
        """The first and third quartiles (equal to the only sample when there is one)."""
        if len(self.samples) == 1:
            return self.samples[0], self.samples[0]
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q1, q3

    @property
    def iqr(self) -> float:
        q1, q3 = self.quartiles
        return q3 - q1

    @property
    def mad(self) -> float:
        """The median absolute deviation from the median."""
        middle = self.median
        return statistics.median(abs(s - middle) for s in self.samples)

    @property
    def relative_iqr(self) -> float:
        return self.iqr / self.median if self.median > 0 else math.inf

    @property
    def relative_error(self) -> float:
        """The standard error of the median, relative to it. The spread is the larger of the two
        robust estimates of sigma (1.4826 MAD, IQR / 1.349): on a loaded machine the samples are
        often two clusters, which the MAD alone misses."""
        if self.median <= 0:
            return math.inf
        sigma = max(_MAD_SIGMA * self.mad, self.iqr / _IQR_SIGMA)
        return _MEDIAN_SE * sigma / self.median / math.sqrt(len(self.samples))

    def summary(self, prefix: str) -> dict[str, float]:
        """Plain metrics: `<prefix>_ms` (the median), `<prefix>_iqr_pct`, `<prefix>_mad_pct`."""
        middle = self.median
        scale = 100.0 / middle if middle > 0 else 0.0
        return {
            f"{prefix}_ms": middle * 1000.0,
            f"{prefix}_iqr_pct": self.iqr * scale,
            f"{prefix}_mad_pct": self.mad * scale,
        }


def _timed(run: Run, clock: Callable[[], float]) -> float:
    started = clock()
    measured = run()
    elapsed = clock() - started
    return elapsed if measured is None else float(measured)


def measure(run: Run, *, warmup: int = 1, repeats: int = 5, clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Run `warmup` times unmeasured (page cache, branch predictors, the CPU's clock speed), then
    `repeats` times measured."""
    return measure_interleaved({"run": run}, warmup=warmup, repeats=repeats, clock=clock)["run"]


def measure_interleaved(
    runs: Mapping[str, Run], *, warmup: int = 1, repeats: int = 5, clock: Callable[[], float] = time.perf_counter
) -> dict[str, Timing]:
    """Measure several programs in rounds, one run of each per round, the order reversed every
    other round: a drift of the machine (another job starting, the clock speed changing) then
    hits them all alike instead of whichever was measured last. Names may map to the same run
    (a reference measured twice, for `noise`). The first `warmup` rounds are not kept."""
    if repeats < 1 or warmup < 0:
        raise ValueError("measure at least one run, after zero or more warm-up runs")
    names = list(runs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            seconds = _timed(runs[name], clock)
            if round_index >= warmup:
                samples[name].append(seconds)
    return {name: Timing(tuple(values)) for name, values in samples.items()}


def noise(
    reference: Timing, reference_again: Timing | None = None, *others: Timing, floor: float = NOISE_FLOOR
) -> float:
    """The relative difference below which two timings do not differ: the largest of `floor`,
    how far two measurements of the same reference disagree (an A/A test), and two standard
    errors of the ratio of the medians (the reference's two measurements pooled, over each of
    `others`)."""
    pooled = Timing(reference.samples + reference_again.samples) if reference_again else reference
    error = _BAND * math.sqrt(pooled.relative_error**2 + sum(t.relative_error**2 for t in others))
    disagreement = 0.0
    if reference_again:  # symmetric: the larger median over the smaller
        ratio = reference.median / reference_again.median
        disagreement = max(ratio, 1.0 / ratio) - 1.0
    return max(floor, disagreement, error)


@dataclass(frozen=True)
class Speedup:
    """A candidate's speed against a reference measured beside it."""

    ratio: float  # the reference's median time over the candidate's: above 1 is faster
    noise: float  # relative; see `noise`

    @property
    def faster(self) -> bool:
        return self.ratio > 1.0 + self.noise

    @property
    def slower(self) -> bool:
        return self.ratio < 1.0 / (1.0 + self.noise)

    @property
    def credited(self) -> float:
        """The ratio where it is beyond the noise, else exactly 1.0: a score that does not reward
        a lucky measurement (selection would otherwise keep whichever program was timed luckiest)."""
        return self.ratio if self.faster or self.slower else 1.0


def speedup(
    candidate: Timing, reference: Timing, reference_again: Timing | None = None, *, floor: float = NOISE_FLOOR
) -> Speedup:
    """How much faster `candidate` is than `reference` (both medians), and the noise it must beat.
    With `reference_again` (the reference measured a second time in the same rounds) its median
    joins the reference's and the disagreement of the two sets is part of the noise."""
    pooled = Timing(reference.samples + reference_again.samples) if reference_again else reference
    if candidate.median <= 0:
        raise ValueError("a candidate time of zero or less: time it over more work")
    return Speedup(pooled.median / candidate.median, noise(reference, reference_again, candidate, floor=floor))


def cpu_affinity() -> tuple[int, ...]:
    """The CPUs this process may run on: one or a few when the sandbox pins it (`pin_cpus`)."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return tuple(range(os.cpu_count() or 1))
