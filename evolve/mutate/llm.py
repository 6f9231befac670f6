"""Call a model through litellm: retries with backoff on transient faults, tokens, cost, latency."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from functools import lru_cache

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never download the price list

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def model_client():
    """litellm, imported on first use (seconds of imports), told not to print its help text to
    stdout (its "Provider List" lines for a model it has no price for: a local server's, say)."""
    import litellm

    litellm.suppress_debug_info = True
    return litellm


@dataclass(frozen=True)
class ModelSpec:
    name: str
    weight: float = 1.0
    api_base: str | None = None
    temperature: float = 0.7
    max_tokens: int = 4096
    price_in: float | None = None  # USD per million prompt tokens
    price_out: float | None = None
    timeout: float = 120.0
    max_attempts: int = 5  # retries + 1
    backoff: float = 1.0  # seconds before the second attempt; doubles each time


@dataclass(frozen=True)
class Completion:
    text: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency: float
    attempts: int
    error: str | None = None


def _status(exc: Exception) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def _retryable(exc: Exception) -> bool:
    litellm = model_client()

    if isinstance(
        exc,
        (
            litellm.RateLimitError,
            litellm.Timeout,
            litellm.APIConnectionError,
            litellm.InternalServerError,
            litellm.ServiceUnavailableError,
        ),
    ):
        return True
    status = _status(exc)
    return status in RETRYABLE_STATUS


def _cost(spec: ModelSpec, response, prompt_tokens: int, completion_tokens: int) -> float:
    if spec.price_in is not None or spec.price_out is not None:
        return (prompt_tokens * (spec.price_in or 0.0) + completion_tokens * (spec.price_out or 0.0)) / 1e6
    try:
        litellm = model_client()

        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:
        return 0.0  # a model litellm has no price for (a local server): free as far as we know


MAX_RETRY_AFTER = 60.0  # a server asking for longer is not waited for beyond this


def retry_after(exc: Exception) -> float | None:
    """The delay a server asked for (`Retry-After: <seconds>`), if it said one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "headers", None) or {}
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
    except AttributeError:
        return None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date: rare from model servers; the backoff applies


def count_tokens(model: str, messages: list[dict]) -> int:
    """The prompt's size in tokens, by litellm's counter for `model` (its tokenizer where litellm
    knows the model, a generic one otherwise): what a prompt's token budget is measured in."""
    litellm = model_client()

    return int(litellm.token_counter(model=model, messages=messages))


@lru_cache(maxsize=64)
def takes_seed(model: str) -> bool:
    """Whether litellm passes a `seed` to this model's provider (OpenAI-compatible servers, Ollama
    do; Anthropic does not): a seed is sent only where it is understood."""
    litellm = model_client()
    try:
        name, provider, _, _ = litellm.get_llm_provider(model)
        return "seed" in (litellm.get_supported_openai_params(model=name, custom_llm_provider=provider) or [])
    except Exception:  # a model litellm cannot place: no seed, the call says what is wrong
        return False


def complete(
    spec: ModelSpec, messages: list[dict], rng: random.Random, deadline: float | None = None, seed: int | None = None
) -> Completion:
    """One model call with its retries. `deadline` (time.time()) is the run's wall-time limit: no
    call, retry or wait goes past it. `seed` goes to providers that take one (`takes_seed`)."""
    litellm = model_client()
    sampling = {"seed": seed} if seed is not None and takes_seed(spec.name) else {}

    started = time.monotonic()
    attempt = 0
    # A self-hosted OpenAI-compatible server usually wants no key, but the client insists on one.
    api_key = "not-needed" if spec.api_base and not os.environ.get("OPENAI_API_KEY") else None
    while True:
        attempt += 1
        left = deadline - time.time() if deadline is not None else None
        if left is not None and left <= 0:
            return Completion(
                None,
                0,
                0,
                0.0,
                time.monotonic() - started,
                attempt - 1,
                error="the run's wall time ran out before the call could be made",
            )
        try:
            response = litellm.completion(
                model=spec.name,
                messages=messages,
                api_base=spec.api_base,
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                timeout=min(spec.timeout, left) if left is not None else spec.timeout,
                num_retries=0,
                api_key=api_key,
                **sampling,
            )
        except Exception as exc:  # litellm maps provider errors onto its own exception types
            if attempt < spec.max_attempts and _retryable(exc):
                asked = retry_after(exc)
                delay = spec.backoff * (2 ** (attempt - 1)) * (0.5 + rng.random())
                delay = min(asked, MAX_RETRY_AFTER) if asked is not None else min(delay, 60.0)
                if deadline is None or time.time() + delay < deadline:
                    time.sleep(delay)
                    continue
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
            return Completion(None, 0, 0, 0.0, time.monotonic() - started, attempt, error=message)
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        text = response.choices[0].message.content or ""
        return Completion(
            text,
            prompt_tokens,
            completion_tokens,
            _cost(spec, response, prompt_tokens, completion_tokens),
            time.monotonic() - started,
            attempt,
        )


@dataclass(frozen=True)
class Embedded:
    vector: tuple[float, ...] | None  # None: the call failed
    cost: float
    error: str | None = None


def embed(model: str, text: str, api_base: str | None = None, attempts: int = 3, timeout: float = 60.0) -> Embedded:
    """A code embedding through litellm (novelty rejection, evolve/search/novelty.py); transient
    faults are retried, anything else is returned as the error."""
    litellm = model_client()

    api_key = "not-needed" if api_base and not os.environ.get("OPENAI_API_KEY") else None
    for attempt in range(1, attempts + 1):
        try:
            response = litellm.embedding(
                model=model, input=[text], api_base=api_base, api_key=api_key, timeout=timeout, num_retries=0
            )
        except Exception as exc:
            if attempt < attempts and _retryable(exc):
                time.sleep(0.2 * 2**attempt)
                continue
            return Embedded(None, 0.0, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300])
        item = response.data[0]
        vector = item["embedding"] if isinstance(item, dict) else item.embedding
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:
            cost = 0.0  # a model litellm has no price for (a local server)
        return Embedded(tuple(float(x) for x in vector), cost)
    return Embedded(None, 0.0, "no attempt made")
