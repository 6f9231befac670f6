"""Models served on one's own machines (llama.cpp, vLLM, Ollama, LM Studio): what sets them apart.

A self-hosted model is free as far as evolve knows (no price list has it, and no warning says
so), and slower per call than a hosted API (a small GPU or a CPU writes 15-50 tokens a second:
a call takes a minute), so its calls get a longer default timeout. Pure.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlparse

HOSTED_TIMEOUT = 120.0  # seconds for one call to a hosted API
SELF_HOSTED_TIMEOUT = 600.0  # a local server writing a 4,000-token answer at 15 tokens/s: ~270 s
# litellm providers that are a server on one's own machine when no api_base is given.
_LOCAL_PROVIDERS = ("ollama/", "ollama_chat/", "lm_studio/", "llamafile/")
# A small model gets the focused prompt (prompts/small.j2). Qwen2.5-Coder-0.5B shown the whole
# program and the run's context copied the program back or "improved" its frozen code: 0 children
# in 10 calls; shown its EVOLVE-BLOCK alone, 3 in 12 (docs/models.md, "Small models").
SMALL_PARAMS = 3.0  # billions of parameters, as the model's name says (qwen2.5-coder-0.5b, llama3.2:1b)
_PARAMS = re.compile(r"(?:^|(?<=[-_:]))(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")  # "-0.5b", ":1b", "-7B-"


def _host_is_own(host: str) -> bool:
    """Loopback, a private network address, or a name no public DNS serves (no dot, .local...)."""
    if host in ("localhost", "host.docker.internal") or ("." not in host and ":" not in host):
        return True
    if host.endswith((".local", ".lan", ".internal", ".home.arpa")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def is_self_hosted(model: str, api_base: str | None) -> bool:
    """Whether the model is served on one's own machines (its api_base, or a local provider)."""
    if api_base:
        host = urlparse(api_base if "//" in api_base else f"http://{api_base}").hostname
        return bool(host) and _host_is_own(host or "")
    return model.startswith(_LOCAL_PROVIDERS)


def call_timeout(timeout: float | None, model: str, api_base: str | None) -> float:
    """Seconds for one call: the model's own `timeout`, else the default for where it is served."""
    if timeout is not None:
        return timeout
    return SELF_HOSTED_TIMEOUT if is_self_hosted(model, api_base) else HOSTED_TIMEOUT


def params_in_name(model: str) -> float | None:
    """The parameter count, in billions, that a model's name gives ("qwen2.5-coder-0.5b": 0.5,
    "Qwen2.5-Coder-7B-Instruct": 7, "qwen3-30b-a3b": 30, the largest said); None when it gives none."""
    found = [float(n) for n in _PARAMS.findall(model.rsplit("/", 1)[-1])]
    return max(found) if found else None


def is_small(model: str, small: bool | None = None) -> bool:
    """Whether a model gets the focused prompt: its `[[models]] small` when set, else whether its
    name says it has at most SMALL_PARAMS billion parameters."""
    if small is not None:
        return small
    params = params_in_name(model)
    return params is not None and params <= SMALL_PARAMS
