"""Insights that accumulate, and the token budget over a long run: whole runs on Ray through
litellm's real HTTP path to a loopback model server (which records every request), the process
sandbox and a real SQLite store."""

from __future__ import annotations

import dataclasses
import itertools

from rich.console import Console
from sqlalchemy import select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.inspect.printing import print_summary
from evolve.inspect.report import report_html
from evolve.inspect.summary import summary
from evolve.inspect.views import collect
from evolve.mutate.llm import ModelSpec, count_tokens
from evolve.problem import Problem
from evolve.store import Insight, LLMCall, open_engine, session_factory

from model_server import ModelServer, insight_text, is_insight, is_retry, mixed_styles_script, with_insights

MODEL = "openai/test-model"
PRICE_IN, PRICE_OUT = 1.0, 2.0  # USD per million tokens


def with_prompt(problem: Problem, **prompt) -> Problem:
    update = {"prompt": problem.config.prompt.model_copy(update=prompt)}
    return dataclasses.replace(problem, config=problem.config.model_copy(update=update))


def options(url: str, iterations: int, **extra) -> RunOptions:
    model = ModelSpec(MODEL, api_base=url, max_attempts=2, backoff=0.05, price_in=PRICE_IN, price_out=PRICE_OUT)
    return RunOptions(
        iterations=iterations, llm_concurrency=2, eval_workers=2, seed=7, models=(model,), sandbox="process", **extra
    )


def user_text(request: dict) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def test_a_long_run_keeps_every_prompt_in_its_budget_and_writes_insights_on_schedule(
    ray_local, circle_packing, tmp_path
):
    budget = 2200
    problem = with_prompt(circle_packing, token_budget=budget, insight_interval=10, tried=8, top=3)
    with ModelServer(with_insights(mixed_styles_script())) as server:
        result = evolve_run(problem, options(server.url, 40), runs_root=tmp_path, run_name="budget")
        requests = list(server.calls)
    assert result.status == "finished", result.stop_reason
    mutations = [r for r in requests if not is_insight(r) and not is_retry(r)]
    sizes = [count_tokens(MODEL, r["messages"]) for r in mutations]
    assert len(mutations) >= 40 and max(sizes) <= budget, sorted(sizes)[-5:]
    assert max(sizes) > budget - 400  # the budget is what bounded them: the memory fills it
    texts = [user_text(r) for r in mutations]
    assert any("# How the current program came about" in t for t in texts)
    assert any("# Tried before and did not help" in t for t in texts)
    assert any("# The best programs so far, in full" in t for t in texts)
    # The first llm_concurrency (2) prompts are sent before the population exists (no cells yet).
    assert all("MAP-Elites cell: code_length" in t for t in texts[2:])

    engine = open_engine(result.db_url, create=False)
    with session_factory(engine)() as s:
        insights = s.scalars(select(Insight).order_by(Insight.id)).all()
        calls = s.scalars(select(LLMCall)).all()
    # One insight each time the evaluations cross a multiple of 10, while prompts are still to come.
    assert len(insights) >= 2, [i.iteration for i in insights]
    assert [i.iteration // 10 for i in insights] == list(range(1, len(insights) + 1))
    assert all(i.error is None and i.model == MODEL and i.program_ids for i in insights)
    assert [i.text for i in insights] == [insight_text(n) for n in range(1, len(insights) + 1)]
    assert all(i.prompt_tokens == 400 and i.completion_tokens == 40 for i in insights)
    insight_requests = [r for r in requests if is_insight(r)]
    assert all(count_tokens(MODEL, r["messages"]) <= budget for r in insight_requests)
    assert "Your previous notes (after 1" in user_text(insight_requests[1])  # the scratchpad accumulates

    # Each insight reaches the prompts made after it, and it is the latest one that they show.
    insight_at = [i for i, r in enumerate(requests) if is_insight(r)]
    for n, at in enumerate(insight_at[:-1], 1):
        later = [user_text(r) for r in requests[at + 1 :] if not is_insight(r)]
        assert any(insight_text(n) in text for text in later), n
    assert insight_text(len(insights)) not in texts[0]

    # The insight calls' cost is the run's, and evolve show lists them.
    spent = sum(c.cost for c in calls) + sum(i.cost for i in insights)
    assert abs(result.progress.cost - spent) < 1e-9 and all(i.cost > 0 for i in insights)
    shown = summary(engine, 1)
    assert abs(shown.cost - spent) < 1e-9
    assert [i.text for i in shown.insights] == [i.text for i in reversed(insights)]
    console = Console(record=True, width=160)
    print_summary(console, shown, result.db_url)
    printed = console.export_text()
    assert f"insights ({len(insights)} written)" in printed and insight_text(len(insights)).splitlines()[1] in printed
    view = collect(engine, 1)  # what the report embeds and the live page polls
    assert view["summary"]["insights"][0]["text"] == insight_text(len(insights))
    assert insight_text(len(insights)).splitlines()[0] in report_html(engine, 1)


def test_no_insight_with_interval_zero_or_the_offline_mutator(ray_local, circle_packing, tmp_path):
    problem = with_prompt(circle_packing, insight_interval=0)
    with ModelServer(with_insights(mixed_styles_script())) as server:
        evolve_run(problem, options(server.url, 12), runs_root=tmp_path, run_name="off")
        assert not any(is_insight(r) for r in server.calls)
    offline = evolve_run(
        with_prompt(circle_packing, insight_interval=2),
        RunOptions(iterations=12, sandbox="process"),
        runs_root=tmp_path,
        run_name="offline",
    )
    with session_factory(open_engine(offline.db_url, create=False))() as s:
        assert s.scalars(select(Insight)).all() == []


def test_resume_keeps_insights_and_history(ray_local, circle_packing, tmp_path):
    problem = with_prompt(circle_packing, insight_interval=6)
    with ModelServer(with_insights(mixed_styles_script())) as server:
        first = evolve_run(problem, options(server.url, 16), runs_root=tmp_path, run_name="resumed")
        before = [r for r in server.calls if is_insight(r)]
    engine = open_engine(first.db_url, create=False)
    with session_factory(engine)() as s:
        kept = [(i.iteration, i.text) for i in s.scalars(select(Insight).order_by(Insight.id))]
    assert len(kept) == len(before) >= 1
    latest = kept[-1][1]

    with ModelServer(with_insights(mixed_styles_script())) as server:
        again = evolve_run(problem, options(server.url, 24), runs_root=tmp_path, run_name="resumed", resume=True)
        prompts = [user_text(r) for r in server.calls if not is_insight(r) and not is_retry(r)]
    assert again.status == "finished"
    # The first prompt after the resume already shows the run's latest insight and its history.
    assert latest in prompts[0]
    assert "# How the current program came about" in prompts[0] or "# Tried before and did not help" in prompts[0]
    with session_factory(engine)() as s:
        rows = [(i.iteration, i.text) for i in s.scalars(select(Insight).order_by(Insight.id))]
    assert rows[: len(kept)] == kept  # the old rows stay; a new one counts on from the evaluations
    assert all(b // 6 > a // 6 for (a, _), (b, _) in itertools.pairwise(rows))
