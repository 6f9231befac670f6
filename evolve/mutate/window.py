"""A model's context window, and the prompt budget and answer length fitted into it.

A prompt longer than the window is cut by the server (llama.cpp and Ollama drop its beginning:
the task and the program) or refused. So the run reads each model's window once, at its start:
from `[[models]] context` in problem.toml, else from its server (llama.cpp's `/props` and
`/v1/models`, vLLM's `/v1/models`, Ollama's `/api/show`), else from litellm's model list; and
fits the first prompt's token budget and the answer's `max_tokens` into the smallest.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from evolve.mutate.direct import is_direct
from evolve.mutate.llm import ModelSpec, bundled_models, model_client
from evolve.mutate.local import is_self_hosted

log = logging.getLogger(__name__)

PROBE_SECONDS = 3.0  # a server that does not answer this fast is asked nothing more
OLLAMA_DEFAULT_CONTEXT = 4096  # what Ollama serves a model with unless num_ctx is set (2048 before 0.6)


@dataclass(frozen=True)
class Window:
    tokens: int  # prompt and answer together
    source: str  # where it was read: "problem.toml", "server", "litellm"
    slots: int | None = None  # requests the server runs at once (llama.cpp's --parallel), when it says


@dataclass(frozen=True)
class Fit:
    budget: int  # the first prompt of an iteration, in tokens
    max_tokens: int  # the answer


def fit_window(window: int, max_tokens: int, budget: int) -> Fit:
    """The budget and answer length for a window: an answer takes at most half of it, and a
    margin (an eighth, at least 256 tokens) is kept for the chat template's tokens and for the
    counter's error (litellm counts an unknown model's tokens with a generic tokenizer)."""
    answer = min(max_tokens, window // 2)
    margin = max(256, window // 8)
    return Fit(max(256, min(budget, window - answer - margin)), answer)


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy


def _get(url: str, payload: dict | None = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    opener = _DIRECT if is_self_hosted("", url) else urllib.request.build_opener()
    with opener.open(urllib.request.Request(url, data, headers), timeout=PROBE_SECONDS) as response:
        return json.load(response)


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def window_in_listing(listing: Any, model: str) -> int | None:
    """The window a `/v1/models` listing reports for `model` (its entry, or the only one):
    vLLM's `max_model_len`, llama.cpp's `meta.n_ctx` or `meta.n_ctx_train`, or the
    `context_length` / `context_window` others use."""
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list) or not entries:
        return None
    named = [e for e in entries if isinstance(e, dict) and e.get("id") in (model, model.split("/", 1)[-1])]
    entry = named[0] if named else entries[0] if len(entries) == 1 else None
    if not isinstance(entry, dict):
        return None
    meta = _mapping(entry.get("meta"))
    for value in (
        entry.get("max_model_len"),
        meta.get("n_ctx"),
        meta.get("n_ctx_train"),
        entry.get("context_length"),
        entry.get("context_window"),
    ):
        if _positive(value):
            return value
    return None


def _server_root(api_base: str) -> str:
    base = api_base.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def _llama_cpp_props(root: str) -> tuple[int | None, int | None]:
    """llama.cpp's `/props`: the window of one slot (what one request gets) and the slots."""
    try:
        props = _get(f"{root}/props")
    except (OSError, ValueError):
        return None, None
    if not isinstance(props, dict):
        return None, None
    settings = props.get("default_generation_settings")
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    return _positive(n_ctx), _positive(props.get("total_slots"))


def _ollama_window(root: str, model: str) -> int | None:
    """Ollama's `/api/show`: the model's num_ctx if set, else Ollama's default (capped by the
    model's own context_length), since Ollama serves what num_ctx says, not what the model allows."""
    try:
        shown = _get(f"{root}/api/show", {"model": model.split("/", 1)[1]})
    except (OSError, ValueError):
        return None
    if not isinstance(shown, dict):
        return None
    for line in str(shown.get("parameters") or "").splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "num_ctx" and value.strip().isdigit():
            return int(value.strip())
    info = _mapping(shown.get("model_info"))
    trained = next((v for k, v in info.items() if k.endswith(".context_length") and _positive(v)), None)
    return min(trained, OLLAMA_DEFAULT_CONTEXT) if trained else OLLAMA_DEFAULT_CONTEXT


def server_window(model: str, api_base: str | None) -> Window | None:
    """The window the model's server reports, or None (no server, no answer, not reported)."""
    if model.startswith(("ollama/", "ollama_chat/")):
        tokens = _ollama_window(_server_root(api_base or "http://localhost:11434"), model)
        return Window(tokens, "server") if tokens else None
    if not api_base:
        return None
    root = _server_root(api_base)
    n_ctx, slots = _llama_cpp_props(root)
    if n_ctx:
        return Window(n_ctx, "server", slots)
    try:
        listing = _get(f"{root}/v1/models")
    except (OSError, ValueError):
        return None
    tokens = window_in_listing(listing, model)
    return Window(tokens, "server", slots) if tokens else None


def litellm_window(model: str, api_base: str | None = None) -> int | None:
    """The window litellm's model list gives (its max_input_tokens, else max_tokens). A model
    called without litellm (evolve/mutate/direct.py) reads the list litellm ships as JSON: the run
    looks its windows up before its first call, and `import litellm` would take seconds."""
    if is_direct(model, api_base):
        return bundled_window(model)
    try:
        info = model_client().get_model_info(model)
    except Exception:  # litellm raises for a model it does not know
        return None
    return _positive(info.get("max_input_tokens")) or _positive(info.get("max_tokens"))


def bundled_window(model: str) -> int | None:
    """`litellm_window` without importing litellm: its bundled list (the one litellm reads with
    LITELLM_LOCAL_MODEL_COST_MAP), by the model's name with and without its provider prefix."""
    listing = bundled_models()
    for name in (model, model.split("/", 1)[-1]):
        entry = _mapping(listing.get(name))
        if tokens := _positive(entry.get("max_input_tokens")) or _positive(entry.get("max_tokens")):
            return tokens
    return None


def model_window(spec: ModelSpec) -> Window | None:
    if spec.context:
        return Window(spec.context, "problem.toml")
    found = server_window(spec.name, spec.api_base)
    if found is None and (tokens := litellm_window(spec.name, spec.api_base)):
        found = Window(tokens, "litellm")
    return found


def fit_to_windows(models: Sequence[ModelSpec], budget: int) -> tuple[tuple[ModelSpec, ...], int, dict[str, Window]]:
    """The models with each answer fitted into its window, the run's prompt budget fitted into
    the smallest window, and the windows read (by model name)."""
    fitted, windows = [], {}
    for spec in models:
        window = model_window(spec)
        if window is None:
            fitted.append(spec)
            continue
        windows[spec.name] = window
        fit = fit_window(window.tokens, spec.max_tokens, budget)
        budget = min(budget, fit.budget)
        fitted.append(replace(spec, max_tokens=fit.max_tokens))
        log.info(
            "model %s: a %d-token window (%s); prompts up to %d tokens, answers up to %d",
            spec.name,
            window.tokens,
            window.source,
            fit.budget,
            fit.max_tokens,
        )
    return tuple(fitted), budget, windows


def fit_run_models(models: Sequence[ModelSpec], budget: int, concurrency: int) -> tuple[tuple[ModelSpec, ...], int]:
    """`fit_to_windows` for a run, saying when more calls go out at once than a server serves
    (the rest wait in its queue, their timeouts running)."""
    fitted, budget, windows = fit_to_windows(models, budget)
    for name, window in windows.items():
        if window.slots is not None and concurrency > window.slots:
            log.warning(
                "model %s: its server runs %d request(s) at once and --llm-concurrency is %d: the others "
                "wait in its queue; set --llm-concurrency %d (or start the server with more slots)",
                name,
                window.slots,
                concurrency,
                window.slots,
            )
    return fitted, budget
