"""What a model call costs before it is made: a budget (--max-cost) is only as good as the prices
behind it, so a run with a budget refuses a model it cannot price."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from evolve.errors import OptionError
from evolve.mutate.llm import ModelSpec
from evolve.mutate.local import is_self_hosted
from evolve.mutate.spending import Spending

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def prices(spec: ModelSpec) -> tuple[float, float] | None:
    """(USD per prompt token, USD per completion token), from problem.toml or litellm's list; a
    model served on one's own machines that the list does not have is free."""
    if spec.price_in is not None or spec.price_out is not None:
        return (spec.price_in or 0.0) / 1e6, (spec.price_out or 0.0) / 1e6
    import litellm

    free = (0.0, 0.0) if is_self_hosted(spec.name, spec.api_base) else None
    try:
        info = litellm.get_model_info(spec.name)
    except Exception:  # litellm raises for a model it does not know
        return free
    price_in, price_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if price_in is None and price_out is None:
        return free
    return float(price_in or 0.0), float(price_out or 0.0)


def check_prices(models: Sequence[ModelSpec], max_cost: float, problem_toml: Path) -> None:
    for spec in models:
        if prices(spec) is None:
            raise OptionError(
                f"--max-cost {max_cost:g}: model {spec.name!r} has no price in litellm's list, so the budget "
                f"could not hold; set price_in and price_out (USD per million tokens) for it under [[models]] in "
                f"{problem_toml} (0 for a free local server), or run without --max-cost"
            )


def worst_case_cost(spec: ModelSpec, prompt_tokens: int) -> float:
    """The most one call can cost: its prompt, and an answer of max_tokens."""
    known = prices(spec)
    if known is None:
        return 0.0
    return prompt_tokens * known[0] + spec.max_tokens * known[1]


def spending_for(models: Sequence[ModelSpec], max_cost: float | None, token_budget: int) -> Spending | None:
    """The run's spending ledger under --max-cost (None: no budget). A first call reserves the
    dearest model's bound at the prompt's token budget; its actual prompt re-prices it."""
    if max_cost is None:
        return None
    return Spending(max_cost, max((worst_case_cost(spec, token_budget) for spec in models), default=0.0))
