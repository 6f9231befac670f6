"""evaluators/timing.py: robust figures, interleaved rounds, the noise rule. Pure: the clock and the
runs' durations are given, so no figure depends on this machine's speed."""

import importlib.util
import itertools
import math
import sys

import pytest

from evaluators_path import EVALUATORS


def _load_timing():
    spec = importlib.util.spec_from_file_location("timing", EVALUATORS / "timing.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("timing", module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules["timing"])
    return sys.modules["timing"]


timing = _load_timing()
Timing, measure, measure_interleaved, noise, speedup = (
    timing.Timing,
    timing.measure,
    timing.measure_interleaved,
    timing.noise,
    timing.speedup,
)


def test_median_quartiles_iqr_and_mad():
    t = Timing((5.0, 1.0, 3.0, 2.0, 4.0))
    assert t.median == 3.0
    assert t.quartiles == (2.0, 4.0)
    assert t.iqr == 2.0 and t.relative_iqr == pytest.approx(2 / 3)
    assert t.mad == 1.0  # |5-3|, |1-3|, 0, 1, 1 -> median 1


def test_one_outlier_moves_neither_the_median_nor_the_mad_much():
    steady = Timing((1.0, 1.01, 0.99, 1.0, 1.02))
    disturbed = Timing((1.0, 1.01, 0.99, 1.0, 9.0))  # one run descheduled for 8 s
    assert disturbed.median == steady.median
    assert disturbed.mad <= 2 * steady.mad


def test_a_timing_needs_a_sample():
    with pytest.raises(ValueError):
        Timing(())
    single = Timing((2.0,))
    assert single.quartiles == (2.0, 2.0) and single.iqr == 0.0 and single.mad == 0.0


def test_summary_is_in_milliseconds_and_percent():
    summary = Timing((0.010, 0.011, 0.012, 0.013, 0.014)).summary("candidate")
    assert summary == {
        "candidate_ms": pytest.approx(12.0),
        "candidate_iqr_pct": pytest.approx(100 * 0.002 / 0.012),
        "candidate_mad_pct": pytest.approx(100 * 0.001 / 0.012),
    }


def test_rounds_alternate_their_order_and_warmup_is_not_kept():
    calls = []

    def run(name, seconds):
        def call():
            calls.append(name)
            return seconds

        return call

    timings = measure_interleaved({"a": run("a", 1.0), "b": run("b", 2.0), "c": run("c", 3.0)}, warmup=1, repeats=3)
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c", "c", "b", "a"]
    assert {name: t.samples for name, t in timings.items()} == {"a": (1.0,) * 3, "b": (2.0,) * 3, "c": (3.0,) * 3}


def test_a_run_that_returns_nothing_is_timed_by_the_clock():
    ticks = itertools.count(0.0, 0.5)  # every reading of the clock is 0.5 s later
    t = measure(lambda: None, warmup=2, repeats=4, clock=lambda: next(ticks))
    assert t.samples == (0.5, 0.5, 0.5, 0.5)


def test_the_same_name_twice_is_measured_twice():
    t = measure_interleaved({"reference": lambda: 1.0, "reference_again": lambda: 1.0}, warmup=0, repeats=2)
    assert len(t["reference"].samples) == len(t["reference_again"].samples) == 2


def test_bad_counts_are_refused():
    with pytest.raises(ValueError):
        measure(lambda: 1.0, repeats=0)
    with pytest.raises(ValueError):
        measure(lambda: 1.0, warmup=-1)


def test_identical_steady_timings_get_the_floor():
    same = Timing((1.0,) * 5)
    assert noise(same, same, same) == timing.NOISE_FLOOR
    result = speedup(same, same, same)
    assert result.ratio == 1.0 and not result.faster and not result.slower and result.credited == 1.0


def test_a_clear_speedup_is_credited_in_full():
    reference = Timing((1.0, 1.01, 0.99, 1.0, 1.0))
    candidate = Timing((0.5, 0.5, 0.51, 0.49, 0.5))
    result = speedup(candidate, reference, reference)
    assert result.faster and result.ratio == pytest.approx(2.0) and result.credited == result.ratio


def test_a_clear_slowdown_is_credited_too():
    reference = Timing((1.0, 1.01, 0.99, 1.0, 1.0))
    result = speedup(Timing((2.0,) * 5), reference, reference)
    assert result.slower and result.credited == pytest.approx(0.5)


def test_a_gain_within_the_noise_counts_as_none():
    reference = Timing((1.0, 1.2, 0.8, 1.1, 0.9))  # 10-20% spread
    candidate = Timing((0.95, 1.15, 0.75, 1.05, 0.85))  # 5% faster by the medians
    result = speedup(candidate, reference, reference)
    assert result.ratio > 1.0 and result.noise > result.ratio - 1.0
    assert not result.faster and result.credited == 1.0


def test_the_reference_disagreeing_with_itself_widens_the_noise():
    reference = Timing((1.0,) * 5)
    again = Timing((1.1,) * 5)  # the same program, 10% slower the second time: the machine drifted
    assert noise(reference, again) == pytest.approx(0.1)
    candidate = Timing((0.96,) * 5)  # 9% faster than the pooled reference median (1.05)
    result = speedup(candidate, reference, again)
    assert result.ratio == pytest.approx(1.05 / 0.96) and not result.faster


def test_noise_grows_with_spread_and_shrinks_with_samples():
    few = Timing((1.0, 1.1, 0.9, 1.05, 0.95))
    many = Timing((1.0, 1.1, 0.9, 1.05, 0.95) * 4)
    wide = Timing((1.0, 1.3, 0.7, 1.15, 0.85))
    assert noise(many, None, many) < noise(few, None, few) < noise(wide, None, wide)


def test_two_clusters_are_seen_by_the_iqr_when_the_mad_misses_them():
    bimodal = Timing((1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 1.0))  # most runs fast, some slowed down
    assert bimodal.mad == 0.0 and bimodal.iqr == 0.5
    assert bimodal.relative_error > 0


def test_a_zero_candidate_time_is_refused():
    with pytest.raises(ValueError):
        speedup(Timing((0.0,)), Timing((1.0,)))


def test_cpu_affinity_lists_cpus():
    cpus = timing.cpu_affinity()
    assert cpus and all(isinstance(c, int) for c in cpus) and math.isfinite(len(cpus))
