"""--max-cost holds when later calls cost more than the first (issue 22, part 2): each call
reserves its price bound (prompt tokens at the input price, max_tokens at the output price)
before it is made, so dearer later calls cannot overrun what the first call's cost suggested."""

from dataclasses import replace

from sqlalchemy import func, select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.mutate.llm import ModelSpec
from evolve.store.db import open_engine, session_factory
from evolve.store.models import LLMCall

from model_server import ModelServer, Reply, good_diff, is_insight

MAX_TOKENS = 2000
PRICE_IN, PRICE_OUT = 1.0, 20.0  # USD per million tokens: an answer of MAX_TOKENS costs $0.04


def growing(request, index):
    """The first answers are short and cheap; later ones grow to the max_tokens asked for (a
    loopback model is asked for fewer than its spec's: evolve/mutate/answer_length.py)."""
    tokens = min(request.get("max_tokens", MAX_TOKENS), 100 * (index + 1) ** 2)
    if is_insight(request):
        return Reply("Findings: none yet.", prompt_tokens=500, completion_tokens=tokens)
    return Reply(good_diff(request, index), prompt_tokens=500, completion_tokens=tokens)


def test_a_budget_holds_when_later_calls_cost_more_than_the_first(ray_local, circle_packing, tmp_path):
    model = ModelSpec(
        "openai/test-model", api_base="", max_tokens=MAX_TOKENS, price_in=PRICE_IN, price_out=PRICE_OUT, backoff=0.01
    )
    with ModelServer(growing) as server:
        options = RunOptions(
            iterations=200,
            llm_concurrency=8,  # the default: all 8 launched at once was the overrun
            eval_workers=2,
            max_cost=0.10,
            models=(replace(model, api_base=server.url),),
            sandbox="process",
        )
        result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="dearer")
        calls = len(server.calls)
    assert result.status == "stopped" and "cost budget of $0.1 reached" in str(result.stop_reason)
    assert f"${result.progress.cost:.4f} spent" in str(result.stop_reason)
    with session_factory(open_engine(result.db_url, create=False))() as s:
        stored = s.scalar(select(func.sum(LLMCall.cost)))
    assert abs(stored - result.progress.cost) < 1e-9  # what the stop says is what the calls cost
    # The check: at most $0.115 (before the fix: $0.249). It holds under the budget itself,
    # since every answer stays within max_tokens.
    assert result.progress.cost <= 0.10 + 1e-9, result.stop_reason
    # And it was spent, not refused: the last call's bound ($0.04 and its prompt) is what is left unused.
    assert result.progress.cost >= 0.10 - 0.05, result.stop_reason
    assert calls >= 4
