"""The model client against a real HTTP server on loopback: retries, timeouts, tokens, cost.
Each test runs twice: through the direct client (evolve/mutate/direct.py) and through litellm."""

import random

import pytest

from evolve.mutate.direct import LITELLM_ONLY
from evolve.mutate.llm import ModelSpec, complete

from model_server import ModelServer, Reply

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(params=["direct", "litellm"], autouse=True)
def client(request, monkeypatch):
    if request.param == "litellm":
        monkeypatch.setenv(LITELLM_ONLY, "1")
    else:
        monkeypatch.delenv(LITELLM_ONLY, raising=False)
    return request.param


def spec(url, **kw):
    return ModelSpec(name="openai/test-model", api_base=url, backoff=0.01, **kw)


def test_timeout_then_success_is_retried():
    def script(request, index):
        return Reply("slow", delay=3.0) if index == 0 else Reply("fast")

    with ModelServer(script) as server:
        result = complete(spec(server.url, timeout=0.5), MESSAGES, random.Random(0))
    assert result.error is None and result.text == "fast" and result.usage.attempts == 2


def test_rate_limit_then_success_is_retried_and_priced():
    def script(request, index):
        return Reply(status=429) if index < 2 else Reply("ok", prompt_tokens=1000, completion_tokens=500)

    with ModelServer(script) as server:
        result = complete(spec(server.url, price_in=3.0, price_out=15.0), MESSAGES, random.Random(0))
    assert result.text == "ok" and result.usage.attempts == 3
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1000, 500)
    assert abs(result.usage.cost - (1000 * 3.0 + 500 * 15.0) / 1e6) < 1e-12


def test_client_errors_are_not_retried():
    with ModelServer(lambda request, index: Reply(status=400)) as server:
        result = complete(spec(server.url, max_attempts=5), MESSAGES, random.Random(0))
        assert len(server.calls) == 1
    assert result.text is None and result.error and result.usage.attempts == 1


def test_gives_up_after_max_attempts():
    with ModelServer(lambda request, index: Reply(status=503)) as server:
        result = complete(spec(server.url, max_attempts=3), MESSAGES, random.Random(0))
        assert len(server.calls) == 3
    assert result.error is not None and result.usage.attempts == 3


def test_the_request_carries_the_settings():
    with ModelServer(lambda request, index: Reply("x")) as server:
        complete(spec(server.url, temperature=0.2, max_tokens=123), MESSAGES, random.Random(0))
        request = server.calls[0]
    assert request["temperature"] == 0.2 and request["max_tokens"] == 123 and request["messages"] == MESSAGES
