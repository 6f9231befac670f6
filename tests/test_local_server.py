"""Local model servers as first-class (issue 23, part 5): the context window read from the server
(llama.cpp's /props and /v1/models, vLLM's max_model_len) or from [[models]] context, the prompt
budget and the answer fitted into it, a long default timeout for a self-hosted model, no price
warning for one. Against the scripted loopback server, through real HTTP and litellm."""

from __future__ import annotations

import logging
import random
import shutil
from dataclasses import replace

import pytest

from evolve.engine.options import RunOptions
from evolve.engine.pricing import prices
from evolve.engine.run import resolve_models
from evolve.errors import ProblemError
from evolve.mutate.answer_length import answer_tokens
from evolve.mutate.llm import ModelSpec, complete, count_tokens
from evolve.mutate.local import HOSTED_TIMEOUT, SELF_HOSTED_TIMEOUT, call_timeout, is_self_hosted
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import MutationTask, MutatorSettings, propose
from evolve.mutate.views import ProgramView
from evolve.mutate.window import Window, fit_run_models, fit_window, server_window, window_in_listing
from evolve.problem import load_problem

from model_server import ModelServer, Reply, styled_answer


def test_the_window_a_models_listing_reports():
    vllm = {"data": [{"id": "Qwen/Qwen2.5-Coder-0.5B-Instruct", "max_model_len": 32768}]}
    assert window_in_listing(vllm, "hosted_vllm/Qwen/Qwen2.5-Coder-0.5B-Instruct") == 32768
    llama = {"data": [{"id": "qwen", "meta": {"n_ctx_train": 32768}}]}
    assert window_in_listing(llama, "openai/anything") == 32768  # the only model served
    two = {"data": [{"id": "a", "max_model_len": 4096}, {"id": "b", "max_model_len": 8192}]}
    assert window_in_listing(two, "openai/b") == 8192
    assert window_in_listing(two, "openai/c") is None  # which one is not known
    assert window_in_listing({"data": [{"id": "x", "max_model_len": "big"}]}, "x") is None
    assert window_in_listing({"object": "list"}, "x") is None


def test_a_window_holds_the_answer_the_prompt_and_a_margin():
    fit = fit_window(8192, 4096, 6000)
    assert (fit.budget, fit.max_tokens) == (8192 - 4096 - 1024, 4096)
    small = fit_window(4096, 4096, 6000)  # the answer takes at most half the window
    assert (small.budget, small.max_tokens) == (4096 - 2048 - 512, 2048)
    large = fit_window(128_000, 4096, 6000)  # a large window leaves the configured budget alone
    assert (large.budget, large.max_tokens) == (6000, 4096)


def test_the_window_read_from_a_llama_cpp_server():
    with ModelServer(lambda r, i: Reply("x"), train_context=32768, slot_context=8192, slots=2) as server:
        assert server_window("openai/test-model", server.url) == Window(8192, "server", 2)  # one slot's window
    with ModelServer(lambda r, i: Reply("x"), train_context=16384) as server:  # no /props
        assert server_window("openai/test-model", server.url) == Window(16384, "server")
    with ModelServer(lambda r, i: Reply("x")) as server:  # a server that says nothing of its window
        assert server_window("openai/test-model", server.url) is None
    assert server_window("openai/test-model", "http://127.0.0.1:9/v1") is None  # nothing listening


def test_the_run_fits_answers_and_budget_and_says_when_concurrency_exceeds_the_slots(caplog):
    with ModelServer(lambda r, i: Reply("x"), train_context=32768, slot_context=4096, slots=1) as server:
        spec = ModelSpec("openai/test-model", api_base=server.url)
        with caplog.at_level(logging.INFO, logger="evolve.mutate.window"):
            (fitted,), budget = fit_run_models([spec], 6000, concurrency=4)
        assert (fitted.max_tokens, budget) == (2048, 4096 - 2048 - 512)
        assert "runs 1 request(s) at once and --llm-concurrency is 4" in caplog.text
        # [[models]] context wins over what the server says.
        (fitted,), budget = fit_run_models([replace(spec, context=16384)], 6000, concurrency=1)
        assert (fitted.max_tokens, budget) == (4096, 6000)


def test_a_fitted_budget_bounds_the_prompt_sent(circle_packing):
    code = circle_packing.initial_code
    parent = ProgramView(1, code, 1.0, {"score": 1.0})
    inspirations = tuple(ProgramView(i, code.replace("0.1", f"0.1{i}"), 0.5, {"score": 0.5}) for i in range(2, 8))
    task = MutationTask(1, 0, parent, inspirations, None, seed=1)
    with ModelServer(lambda r, i: Reply(styled_answer(r, i, "search_replace")), slot_context=3072) as server:
        (spec,), budget = fit_run_models([ModelSpec("openai/test-model", api_base=server.url, max_attempts=1)], 6000, 1)
        settings = MutatorSettings(ProblemView("circle_packing", "Pack.", "python"), (spec,), 1.0, 0.0, 0, budget)
        proposal = propose(task, settings)
        (request,) = server.calls
    # The answer's room in the window is 1,536 tokens; a self-hosted model is asked for what a
    # rewrite of this program needs (evolve/mutate/answer_length.py), which is less.
    program_tokens = count_tokens(spec.name, [{"role": "user", "content": code}], spec.api_base)
    assert budget == 3072 - 1536 - 384 and spec.max_tokens == 1536
    assert request["max_tokens"] == answer_tokens(program_tokens, 1536) == 2 * program_tokens + 256 < 1536
    assert proposal.child_code is not None
    shown = sum(f"0.1{i}" in proposal.prompt for i in range(2, 8))
    assert shown < len(inspirations)  # inspirations dropped to fit the window


def test_self_hosted_models_and_their_timeouts():
    for base in (
        "http://127.0.0.1:8080/v1",
        "http://localhost:11434",
        "http://192.168.1.20:8000/v1",
        "http://gpu-box:8000",
    ):
        assert is_self_hosted("openai/qwen", base), base
        assert call_timeout(None, "openai/qwen", base) == SELF_HOSTED_TIMEOUT
    assert is_self_hosted("ollama/qwen2.5-coder", None)
    for base in ("https://api.openai.com/v1", "https://openrouter.ai/api/v1", "http://8.8.8.8/v1"):
        assert not is_self_hosted("openai/qwen", base), base
    assert call_timeout(None, "openai/gpt-4o-mini", None) == HOSTED_TIMEOUT
    assert call_timeout(30.0, "openai/qwen", "http://127.0.0.1:8080/v1") == 30.0  # the model's own wins


def test_an_unpriced_local_model_is_free_and_nothing_warns_about_its_price(caplog, capfd):
    local = ModelSpec("openai/qwen2.5-coder-0.5b", api_base="http://127.0.0.1:8080/v1")
    assert prices(local) == (0.0, 0.0)
    assert prices(replace(local, api_base="https://models.example.com/v1")) is None  # a hosted one: unknown
    with ModelServer(lambda r, i: Reply("an answer")) as server:
        spec = replace(local, api_base=server.url, max_attempts=1)
        with caplog.at_level(logging.WARNING):  # as a run logs: warnings and up
            result = complete(spec, [{"role": "user", "content": "hi"}], random.Random(1))
    assert result.error is None and result.usage.cost == 0.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    out, err = capfd.readouterr()
    assert "price" not in (out + err).lower() and "cost" not in (out + err).lower() and "Provider List" not in out


def test_models_context_and_timeout_in_problem_toml(tmp_path, circle_packing):
    folder = tmp_path / "p"
    shutil.copytree(circle_packing.root, folder)
    toml = folder / "problem.toml"
    base = toml.read_text()
    toml.write_text(
        base + '\n[[models]]\nname = "openai/qwen"\napi_base = "http://127.0.0.1:8080/v1"\ncontext = 8192\n'
    )
    (spec,) = resolve_models(load_problem(folder), RunOptions())
    assert (spec.context, spec.timeout) == (8192, None)
    assert call_timeout(spec.timeout, spec.name, spec.api_base) == SELF_HOSTED_TIMEOUT
    toml.write_text(base + '\n[[models]]\nname = "openai/qwen"\ncontext = 100\n')
    with pytest.raises(ProblemError, match="context"):
        load_problem(folder)


class _Ollama:
    """Ollama's POST /api/show on loopback: the model's parameters and its model_info."""

    def __init__(self, parameters: str):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        shown = {"parameters": parameters, "model_info": {"qwen2.context_length": 32768}}
        self.asked: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.asked.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                body = json.dumps(shown if self.path == "/api/show" else {}).encode()
                self.send_response(200 if self.path == "/api/show" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_window_read_from_ollama():
    server = _Ollama('stop "<|im_end|>"\nnum_ctx 16384\ntemperature 0.2')
    try:
        assert server_window("ollama/qwen2.5-coder:7b", server.url) == Window(16384, "server")
        assert server.asked == [{"model": "qwen2.5-coder:7b"}]
    finally:
        server.close()
    server = _Ollama('stop "<|im_end|>"')  # no num_ctx: Ollama serves its default, not the model's 32,768
    try:
        assert server_window("ollama_chat/qwen2.5-coder:7b", server.url) == Window(4096, "server")
    finally:
        server.close()
