"""Models served on one's own machines (llama.cpp, vLLM, Ollama, LM Studio): what sets them apart.

A self-hosted model is free as far as evolve knows (no price list has it, and no warning says
so), and slower per call than a hosted API (a small GPU or a CPU writes 15-50 tokens a second:
a call takes a minute), so its calls get a longer default timeout. Pure.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

HOSTED_TIMEOUT = 120.0  # seconds for one call to a hosted API
SELF_HOSTED_TIMEOUT = 600.0  # a local server writing a 4,000-token answer at 15 tokens/s: ~270 s
# litellm providers that are a server on one's own machine when no api_base is given.
_LOCAL_PROVIDERS = ("ollama/", "ollama_chat/", "lm_studio/", "llamafile/")


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
