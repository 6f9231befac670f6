"""The direct client for OpenAI-compatible servers (evolve/mutate/direct.py) against a real HTTP
server on loopback: what it sends, what its errors read like next to litellm's, that it imports no
litellm, and that its token count agrees with litellm's."""

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evolve.mutate.direct import LITELLM_ONLY, is_direct
from evolve.mutate.llm import ModelSpec, complete, count_tokens
from evolve.mutate.tokens import count_chat_tokens

from model_server import ModelServer, Reply

MESSAGES = [{"role": "system", "content": "You improve code."}, {"role": "user", "content": "def f():\n    return 1\n"}]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _direct(monkeypatch):
    monkeypatch.delenv(LITELLM_ONLY, raising=False)


def test_which_models_are_called_directly(monkeypatch):
    assert is_direct("openai/my-model", "http://127.0.0.1:8000/v1")
    assert is_direct("hosted_vllm/Qwen/Qwen2.5-Coder", "http://gpu:8000/v1")
    assert not is_direct("openai/gpt-4o-mini", None)  # OpenAI itself: litellm adapts its reasoning models
    assert not is_direct("anthropic/claude-3-5-haiku-latest", "http://proxy/v1")
    assert not is_direct("openai/", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert is_direct("openai/my-model", "http://127.0.0.1:8000/v1")  # no proxy for http here, nor for loopback
    assert not is_direct("openai/my-model", "https://models.example/v1")  # behind the proxy: litellm follows it
    monkeypatch.setenv(LITELLM_ONLY, "1")
    assert not is_direct("openai/my-model", "http://127.0.0.1:8000/v1")


def test_the_request_names_the_model_without_its_prefix_and_carries_the_key(monkeypatch):
    monkeypatch.setenv("HOSTED_VLLM_API_KEY", "sekrit")
    seen = []

    def script(request, index):
        seen.append(request)
        return Reply("x")

    with ModelServer(script) as server:
        result = complete(ModelSpec("hosted_vllm/org/coder-7b", api_base=server.url), MESSAGES, random.Random(0))
    assert result.text == "x" and seen[0]["model"] == "org/coder-7b" and seen[0]["messages"] == MESSAGES


def test_errors_read_as_litellm_names_them():
    with ModelServer(lambda request, index: Reply(status=500)) as server:
        spec = ModelSpec("openai/test-model", api_base=server.url, max_attempts=2, backoff=0.01)
        result = complete(spec, MESSAGES, random.Random(0))
        assert len(server.calls) == 2  # a 500 is retried
    assert result.error is not None and result.error.startswith("InternalServerError: ")
    assert "scripted fault 500" in result.error and result.usage.attempts == 2


def test_a_server_that_is_not_there_is_a_connection_error_retried():
    spec = ModelSpec("openai/test-model", api_base="http://127.0.0.1:9/v1", max_attempts=2, backoff=0.01)
    result = complete(spec, MESSAGES, random.Random(0))
    assert result.usage.attempts == 2 and result.error is not None and result.error.startswith("APIConnectionError: ")


def test_an_answer_without_choices_is_an_error_not_a_crash():
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"choices": []}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        result = complete(ModelSpec("openai/m", api_base=url, max_attempts=1), MESSAGES, random.Random(0))
    finally:
        httpd.shutdown()
    assert result.text is None and "no choices[0].message" in (result.error or "")


def test_a_listed_model_at_an_address_is_priced_as_litellm_prices_it():
    import litellm

    with ModelServer(lambda request, index: Reply("ok", prompt_tokens=1000, completion_tokens=200)) as server:
        result = complete(ModelSpec("openai/gpt-4o-mini", api_base=server.url), MESSAGES, random.Random(0))
        free = complete(ModelSpec("openai/no-such-model-here", api_base=server.url), MESSAGES, random.Random(0))
    expected = sum(litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=1000, completion_tokens=200))
    assert expected > 0 and abs(result.usage.cost - expected) < 1e-12
    assert free.usage.cost == 0.0


def test_the_token_count_agrees_with_litellms():
    import litellm

    code = (ROOT / "evolve" / "mutate" / "direct.py").read_text()[:9000]
    prompts = [MESSAGES, [{"role": "user", "content": code}], [*MESSAGES, {"role": "assistant", "content": code}]]
    for messages in prompts:
        ours = count_tokens("openai/test-model", messages, "http://127.0.0.1:1/v1")
        assert ours == count_chat_tokens(messages)
        assert ours == litellm.token_counter(model="openai/test-model", messages=messages)


def test_a_call_imports_no_litellm():
    """In a fresh process: the call, its token count and its cost leave litellm unimported."""
    with ModelServer(lambda request, index: Reply("hi")) as server:
        script = textwrap.dedent(f"""
            import random, sys
            from evolve.mutate.llm import ModelSpec, complete, count_tokens
            spec = ModelSpec("openai/test-model", api_base="{server.url}")
            messages = [{{"role": "user", "content": "hello"}}]
            assert count_tokens(spec.name, messages, spec.api_base) > 0
            result = complete(spec, messages, random.Random(0))
            assert result.text == "hi" and result.usage.cost == 0.0, result
            assert "litellm" not in sys.modules
            print("ok")
        """)
        env = {k: v for k, v in os.environ.items() if k != LITELLM_ONLY}
        env["PYTHONPATH"] = str(ROOT)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
