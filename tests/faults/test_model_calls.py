"""Model calls respect the user: Retry-After, per-model timeouts, the wall time, unpriced budgets."""

import random
import time

import pytest

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.errors import OptionError
from evolve.mutate.llm import ModelSpec, complete

from model_server import ModelServer, Reply, good_diff


def _spec(url: str, **extra) -> ModelSpec:
    return ModelSpec("openai/test-model", api_base=url, backoff=0.01, **extra)


def test_retry_after_is_honoured():
    def limited_then_fine(request, index):
        return Reply(status=429, retry_after="1.5") if index == 0 else Reply("hello")

    with ModelServer(limited_then_fine) as server:
        result = complete(_spec(server.url, max_attempts=3), [{"role": "user", "content": "hi"}], random.Random(0))
        assert result.text == "hello" and result.usage.attempts == 2
        # The backoff alone would have waited ~0.01 s; the server asked for 1.5 s.
        assert server.call_times[1] - server.call_times[0] >= 1.4


def test_a_call_never_runs_past_the_runs_wall_time():
    with ModelServer(lambda request, index: Reply("late", delay=20)) as server:
        started = time.monotonic()
        result = complete(
            _spec(server.url, timeout=300),
            [{"role": "user", "content": "hi"}],
            random.Random(0),
            deadline=time.time() + 2,
        )
        assert result.text is None and result.error
        assert time.monotonic() - started < 15  # the deadline, not the 20 s answer or the 300 s timeout, ended it


def test_max_seconds_ends_the_calls_in_flight(ray_local, circle_packing, tmp_path):
    with ModelServer(lambda request, index: Reply(good_diff(request, index), delay=60)) as server:
        options = RunOptions(
            iterations=10,
            llm_concurrency=2,
            eval_workers=1,
            max_seconds=4,
            sandbox="process",
            models=(ModelSpec("openai/test-model", api_base=server.url, timeout=300.0),),
        )
        started = time.monotonic()
        result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="wall")
    assert result.status == "stopped" and "wall time" in str(result.stop_reason), result.stop_reason
    assert time.monotonic() - started < 45  # not the 60 s answers


def test_a_budget_with_a_model_that_has_no_price_is_refused_at_start(ray_local, circle_packing, tmp_path):
    options = RunOptions(
        iterations=2,
        max_cost=1.0,
        sandbox="process",
        # A hosted server's model (one on loopback is self-hosted: free, tests/test_local_server.py).
        models=(ModelSpec("openai/no-such-model-anywhere", api_base="https://models.example.com/v1"),),
    )
    with pytest.raises(OptionError, match=r"has no price in litellm's list.*price_in and price_out"):
        evolve_run(circle_packing, options, runs_root=tmp_path, run_name="unpriced")
    assert not (tmp_path / "unpriced").exists()
