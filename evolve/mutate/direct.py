"""A small client for OpenAI-compatible chat servers (`openai/NAME` or `hosted_vllm/NAME` with an
`api_base`: vLLM, SGLang, llama.cpp, Ollama, a proxy), on the standard library's `http.client`.

Why not litellm here: `import litellm` takes 5-17 s on a small busy machine and `import openai`
1.5-5 s, while `http.client` and `ssl` import in under 0.1 s, so the first model request of a run
is not waiting on imports. litellm keeps every other provider (it maps their APIs and parameters)
and the prices of the models it lists (evolve/mutate/llm.py).

One request per call, no retries here (evolve/mutate/llm.py's `complete` retries); a fault is
raised as one of the exception classes below, named as litellm names them, so an error stored in
the run reads the same whichever client made the call.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

DIRECT_PREFIXES = ("openai/", "hosted_vllm/")
LITELLM_ONLY = "EVOLVE_LITELLM_ONLY"  # set (to anything but "" or "0"): every call goes through litellm
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
SENT = threading.Event()  # set when a request has gone out: a new run's start waits for its first one


def is_direct(name: str, api_base: str | None) -> bool:
    """Whether a model is called through this client: an OpenAI-compatible server at an address
    the user gave. Plain OpenAI (no api_base) stays with litellm, which adapts the parameters of
    its reasoning models (max_completion_tokens, no temperature)."""
    if os.environ.get(LITELLM_ONLY, "") not in ("", "0"):
        return False
    if not api_base or not name.startswith(DIRECT_PREFIXES) or not name.split("/", 1)[1]:
        return False
    return not _proxied(api_base)


def _proxied(api_base: str) -> bool:
    """Whether HTTP(S)_PROXY applies to this address (litellm's HTTP client follows it; this one does not)."""
    from urllib import request

    url = urlsplit(api_base)
    proxies = request.getproxies_environment()
    return url.scheme in proxies and not request.proxy_bypass_environment(url.netloc, proxies)  # type: ignore[attr-defined]


class ModelCallError(Exception):
    """A call that failed; `status_code` is the HTTP status (None: no answer), `headers` the answer's."""

    retryable = False

    def __init__(self, message: str, status_code: int | None = None, headers=None):
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers or {}


class BadRequestError(ModelCallError):
    pass


class AuthenticationError(ModelCallError):
    pass


class PermissionDeniedError(ModelCallError):
    pass


class NotFoundError(ModelCallError):
    pass


class UnprocessableEntityError(ModelCallError):
    pass


class APIError(ModelCallError):
    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status_code in RETRYABLE_STATUS


class RateLimitError(ModelCallError):
    retryable = True


class InternalServerError(ModelCallError):
    retryable = True


class ServiceUnavailableError(ModelCallError):
    retryable = True


class Timeout(ModelCallError):
    retryable = True


class APIConnectionError(ModelCallError):
    retryable = True


_BY_STATUS: dict[int, type[ModelCallError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: Timeout,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    503: ServiceUnavailableError,
}


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int


def chat(
    name: str,
    api_base: str,
    messages: list[dict],
    temperature: float,
    max_tokens: int,
    timeout: float,
    seed: int | None = None,
) -> ChatAnswer:
    """POST {api_base}/chat/completions once; `timeout` bounds the connection and each wait for data.
    `seed` is sent as OpenAI's field (vLLM and llama.cpp honour it; a server that does not ignores it)."""
    model = name.split("/", 1)[1]
    request = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
    body = json.dumps(request if seed is None else {**request, "seed": seed})
    key = os.environ.get("HOSTED_VLLM_API_KEY" if name.startswith("hosted_vllm/") else "OPENAI_API_KEY")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key or 'not-needed'}"}
    url = urlsplit(api_base.rstrip("/"))
    path = f"{url.path}/chat/completions" + (f"?{url.query}" if url.query else "")
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = kind(url.hostname or "", url.port, timeout=max(timeout, 0.001))
    try:
        connection.request("POST", path or "/chat/completions", body=body.encode(), headers=headers)
        SENT.set()
        response = connection.getresponse()
        raw = response.read()
    except TimeoutError as exc:
        raise Timeout(f"the model server did not answer within {timeout:g} s ({api_base})") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise APIConnectionError(f"cannot reach the model server at {api_base}: {exc}") from exc
    finally:
        connection.close()
    if response.status != 200:
        error = _failure(response.status, raw)
        raise _BY_STATUS.get(response.status, APIError)(error, response.status, response.headers)
    return _answer(raw, api_base)


def _failure(status: int, raw: bytes) -> str:
    """The server's own message for a failed call, as litellm shows it."""
    try:
        detail = json.loads(raw)
        message = detail.get("error", {}).get("message") if isinstance(detail.get("error"), dict) else None
        message = message or detail.get("error") or detail.get("detail") or detail.get("message")
    except (ValueError, AttributeError):
        message = None
    text = str(message) if message else raw.decode("utf-8", "replace").strip()[:300]
    return f"status {status}: {text}"


def _answer(raw: bytes, api_base: str) -> ChatAnswer:
    try:
        reply = json.loads(raw)
        message = reply["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise APIError(f"the model server at {api_base} answered with no choices[0].message: {raw[:200]!r}") from exc
    usage = reply.get("usage") or {}
    return ChatAnswer(
        message.get("content") or "",
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )
