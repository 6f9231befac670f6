"""A short run against a real model: Qwen2.5-Coder-0.5B behind llama.cpp's server on loopback.

Nothing here is scripted: the answers, their forms and their mistakes are the model's own. The
test asserts that a real model's calls are recorded as any model's are (tokens from the server,
an answer form or a reason for each answer, an outcome per iteration), not that scores improve.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.kinds import AnswerForm, CallOutcome
from evolve.mutate.llm import ModelSpec
from evolve.store import LLMCall, Program, open_engine, session_factory

import local_model

pytestmark = [pytest.mark.real_model, pytest.mark.slow]


@pytest.fixture(scope="module")
def real_model():
    why = local_model.ready()
    if why:
        pytest.skip(f"no local model: {why}")
    server = local_model.serve()
    yield server
    server.stop()


def test_a_real_model_run_is_recorded_like_any_other(real_model, ray_local, circle_packing, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "local")  # litellm's openai/ route wants a key; the server ignores it
    # 2 shared cores write 2-22 tokens a second: short answers, a timeout that waits for them.
    # llama-cpp-python's server does not report its window: say it, as docs/models.md tells users to.
    model = ModelSpec(
        real_model.model,
        api_base=real_model.api_base,
        max_tokens=400,
        timeout=900.0,
        max_attempts=2,
        backoff=1.0,
        context=local_model.CONTEXT,
    )
    options = RunOptions(iterations=2, llm_concurrency=1, eval_workers=1, seed=1, models=(model,), sandbox="process")
    result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="real-model")

    assert result.status == "finished"
    Session = session_factory(open_engine(result.db_url, create=False))
    with Session() as s:
        calls = s.scalars(select(LLMCall)).all()
        children = s.scalars(select(Program).where(Program.iteration > 0)).all()
    answered = [c for c in calls if c.error is None]
    assert answered, [c.error for c in calls]
    for call in answered:
        # The server's own token counts, a real answer, and what became of it.
        assert call.prompt_tokens > 50 and call.completion_tokens > 0
        assert call.answer and call.latency > 0
        assert call.cost == 0.0  # a local model costs nothing and is priced so
        assert call.outcome in set(CallOutcome)
        assert call.answer_form in set(AnswerForm) or call.reject_reason
    finals = [c for c in answered if not c.retried]
    assert {c.iteration for c in finals} == {1, 2}
    assert len(children) == sum(c.outcome == CallOutcome.CHILD for c in finals)
