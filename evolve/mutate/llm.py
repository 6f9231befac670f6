"""Call a model: retries with backoff on transient faults, tokens, cost, latency.

An OpenAI-compatible server at a given address is called directly (evolve/mutate/direct.py: the
standard library's HTTP client, imported in milliseconds); every other provider goes through
litellm, imported on first use (seconds)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from typing import Any

from evolve.errors import OptionError
from evolve.mutate import direct
from evolve.mutate.local import call_timeout
from evolve.usage import CallUsage

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never download the price list

RETRYABLE_STATUS = direct.RETRYABLE_STATUS


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
    timeout: float | None = None  # seconds for one call; None: by where it is served (evolve/mutate/local.py)
    max_attempts: int = 5  # retries + 1
    backoff: float = 1.0  # seconds before the second attempt; doubles each time
    context: int | None = None  # the model's window in tokens ([[models]] context); None: read from its server
    # Whether the model gets the focused prompt (prompts/small.j2: the block alone, no context);
    # None: when its name says it has at most SMALL_PARAMS billion parameters (evolve/mutate/local.py).
    small: bool | None = None

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any], where: str) -> ModelSpec:
        """A model from a table of settings (a stored run's JSON, a script's dict, a TOML table):
        its fields by name, or `retries` (problem.toml's spelling of max_attempts - 1). An unknown
        key or a value of the wrong kind is an OptionError naming `where`, the key and the value."""
        values = dict(settings)
        if "retries" in values:
            if "max_attempts" in values:
                raise OptionError(f"{where}: give a model's retries or its max_attempts, not both")
            values["max_attempts"] = _number(values.pop("retries"), int, f"{where}: retries") + 1
        known = {f.name: str(f.type) for f in fields(cls)}
        for key in values:
            if key not in known:
                choices = ", ".join((*known, "retries"))
                raise OptionError(f"{where}: unknown model setting {key!r} (known: {choices})")
        name = values.get("name")
        if not isinstance(name, str) or not name:
            raise OptionError(f"{where}: a model needs a name (a litellm model name, e.g. openai/gpt-4o-mini)")
        for key, value in values.items():
            kind = known[key]
            if value is None and kind.endswith("| None"):
                continue
            if kind.startswith("bool"):
                if not isinstance(value, bool):
                    raise OptionError(f"{where}: {key} = {value!r} must be true or false")
            elif kind.startswith(("float", "int")):
                values[key] = _number(value, float if kind.startswith("float") else int, f"{where}: {key}")
            elif key != "name" and not isinstance(value, str):
                raise OptionError(f"{where}: {key} = {value!r} must be text")
        if not values.get("weight", 1.0) > 0:
            raise OptionError(f"{where}: weight = {settings['weight']!r} must be more than 0")
        return cls(**values)


def _number(value: Any, kind: type[int] | type[float], where: str) -> Any:
    """`value` as an int or a float, refusing text, booleans and fractions where whole numbers are meant."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not whole):
        wanted = "a whole number" if kind is int else "a number"
        raise OptionError(f"{where} = {value!r} must be {wanted}")
    return kind(value)


@dataclass(frozen=True)
class Completion:
    text: str | None  # None: the call failed (`error` says why)
    usage: CallUsage
    error: str | None = None


def _status(exc: Exception) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, direct.ModelCallError):
        return exc.retryable
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
        if isinstance(response, direct.ChatAnswer):
            if not listed(spec.name):  # a local server's model: litellm is not imported to learn it is free
                return 0.0
            pair = model_client().cost_per_token(
                model=spec.name, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
            return float(sum(pair))
        return float(model_client().completion_cost(completion_response=response) or 0.0)
    except Exception:
        return 0.0  # a model litellm has no price for (a local server): free as far as we know


@cache
def bundled_models() -> dict[str, Any]:
    """litellm's own copy of its model list (prices, windows), by model name, read without
    importing litellm; {} where it is not installed or its copy cannot be read."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("litellm")
    for root in (spec.submodule_search_locations or ()) if spec else ():
        path = Path(root) / "model_prices_and_context_window_backup.json"
        if path.is_file():
            try:
                listing = json.loads(path.read_text())
            except (OSError, ValueError):
                return {}
            return listing if isinstance(listing, dict) else {}
    return {}


def listed(name: str) -> bool:
    """Whether litellm may have a price for `name` (as given, or without its provider prefix)."""
    names = bundled_models()
    return not names or name in names or name.split("/", 1)[-1] in names


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


def count_tokens(model: str, messages: list[dict], api_base: str | None = None) -> int:
    """The prompt's size in tokens: what a prompt's token budget is measured in. A model called
    directly is counted with cl100k without litellm (evolve/mutate/tokens.py); any other by
    litellm's counter for `model` (its tokenizer where litellm knows the model, a generic one otherwise)."""
    if direct.is_direct(model, api_base):
        from evolve.mutate.tokens import count_chat_tokens

        return count_chat_tokens(messages)
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
    started = time.monotonic()
    attempt = 0
    limit = call_timeout(spec.timeout, spec.name, spec.api_base)
    while True:
        attempt += 1
        left = deadline - time.time() if deadline is not None else None
        if left is not None and left <= 0:
            return Completion(
                None,
                CallUsage(latency=time.monotonic() - started, attempts=attempt - 1),
                error="the run's wall time ran out before the call could be made",
            )
        try:
            response = _call(spec, messages, min(limit, left) if left is not None else limit, seed)
        except Exception as exc:  # both clients map provider errors onto litellm's exception types
            if attempt < spec.max_attempts and _retryable(exc):
                asked = retry_after(exc)
                delay = spec.backoff * (2 ** (attempt - 1)) * (0.5 + rng.random())
                delay = min(asked, MAX_RETRY_AFTER) if asked is not None else min(delay, 60.0)
                if deadline is None or time.time() + delay < deadline:
                    time.sleep(delay)
                    continue
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
            return Completion(None, CallUsage(latency=time.monotonic() - started, attempts=attempt), error=message)
        text, prompt_tokens, completion_tokens = _read(response)
        cost = _cost(spec, response, prompt_tokens, completion_tokens)
        return Completion(text, CallUsage(prompt_tokens, completion_tokens, cost, time.monotonic() - started, attempt))


def _call(spec: ModelSpec, messages: list[dict], timeout: float, seed: int | None = None):
    """One request, by the direct client where the model allows it, else by litellm (with the
    seed only where litellm says the provider takes one)."""
    if direct.is_direct(spec.name, spec.api_base):
        assert spec.api_base is not None
        return direct.chat(spec.name, spec.api_base, messages, spec.temperature, spec.max_tokens, timeout, seed)
    # A self-hosted OpenAI-compatible server usually wants no key, but the client insists on one.
    api_key = "not-needed" if spec.api_base and not os.environ.get("OPENAI_API_KEY") else None
    sampling = {"seed": seed} if seed is not None and takes_seed(spec.name) else {}
    return model_client().completion(
        model=spec.name,
        messages=messages,
        api_base=spec.api_base,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        timeout=timeout,
        num_retries=0,
        api_key=api_key,
        **sampling,
    )


def _read(response) -> tuple[str, int, int]:
    """(text, prompt tokens, completion tokens) of either client's answer."""
    if isinstance(response, direct.ChatAnswer):
        return response.text, response.prompt_tokens, response.completion_tokens
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    return response.choices[0].message.content or "", prompt_tokens, completion_tokens


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
