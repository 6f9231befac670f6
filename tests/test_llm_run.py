"""End to end through litellm's real HTTP path against a scripted model server on loopback."""

from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from evolve.edit import NO_EDIT
from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.kinds import AnswerForm, StopKind
from evolve.mutate.llm import ModelSpec
from evolve.store import Evaluation, Event, LLMCall, Program, open_engine, session_factory

from model_server import STYLES, ModelServer, Reply, mixed_script, mixed_styles_script


def _model(url, **extra):
    return (
        replace(
            ModelSpec("openai/test-model", api_base=url, max_attempts=4, backoff=0.05, price_in=1.0, price_out=2.0),
            **extra,
        ),
    )


def _with_retries(problem, max_retries):
    """The problem with `[mutation] max_retries` set: unset, a loopback model counts as self-hosted
    and is re-asked only for a SEARCH miss or invalid Python (evolve/mutate/reask.py), so whether
    any answer is re-asked would depend on which call meets which prompt."""
    mutation = problem.config.mutation.model_copy(update={"max_retries": max_retries})
    return replace(problem, config=problem.config.model_copy(update={"mutation": mutation}))


def test_twenty_candidates_through_the_model_server(ray_local, circle_packing, tmp_path):
    with ModelServer(mixed_script(slow=0.3)) as server:
        options = RunOptions(
            iterations=20, llm_concurrency=4, eval_workers=2, seed=3, models=_model(server.url), sandbox="process"
        )
        result = evolve_run(_with_retries(circle_packing, 2), options, runs_root=tmp_path, run_name="llm-run")
        calls_made = len(server.calls)

    assert result.status == "finished"
    assert result.progress.completed == 20
    Session = session_factory(open_engine(result.db_url, create=False))
    with Session() as s:
        calls = s.scalars(select(LLMCall)).all()
        # One row per answer: an iteration's answers sent back to the model (retried), then its outcome.
        final = [c for c in calls if not c.retried]
        assert len(final) == 20 and len({c.iteration for c in final}) == 20
        assert any(c.retried for c in calls)  # the rejected answers were sent back
        assert calls_made > 20  # the 429 and 500 answers were retried over HTTP
        assert any(c.attempts > 1 for c in calls)
        assert all(c.prompt_tokens == 100 and c.completion_tokens == 50 for c in calls if c.error is None)
        assert all(abs(c.cost - (100 * 1.0 + 50 * 2.0) / 1e6) < 1e-12 for c in calls if c.error is None)
        outcomes = {c.outcome for c in calls}
        assert {"child", "rejected"} <= outcomes
        reasons = " ".join(c.reject_reason or "" for c in calls)
        # Which call lands on which iteration depends on thread timing; the kinds do not.
        assert NO_EDIT in reasons, reasons
        assert any(c.mutation == "full" and c.outcome == "child" for c in calls)

        children = s.scalars(select(Program).where(Program.iteration > 0)).all()
        assert len(children) == sum(c.outcome == "child" for c in calls)
        for child in children:
            assert child.llm_call_id is not None
            assert child.status in ("ok", "failed")
            assert s.scalar(select(func.count()).select_from(Evaluation).where(Evaluation.program_id == child.id)) == 1
        # The best score never goes down: each new_best event beats the previous one.
        bests = [e.data["score"] for e in s.scalars(select(Event).where(Event.kind == "new_best").order_by(Event.id))]
        assert bests == sorted(bests) and len(set(bests)) == len(bests)
        initial = s.scalars(select(Program).where(Program.iteration == 0)).one()
        assert result.best.score >= initial.score
        # Rejected edits are shown to the model next time on that island.
        assert any("Your edit was rejected" in c.prompt or "failed its evaluation" in c.prompt for c in calls)
    assert (result.run_dir / "best" / "initial_program.py").is_file()


def test_answers_in_every_style_become_children(ray_local, circle_packing, tmp_path):
    # Whatever the prompt asked for, the server answers in the next of fifteen styles real models write.
    with ModelServer(mixed_styles_script()) as server:
        options = RunOptions(
            iterations=2 * len(STYLES),
            llm_concurrency=4,
            eval_workers=2,
            seed=5,
            models=_model(server.url),
            sandbox="process",
        )
        result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="styles")
    assert result.status == "finished"
    Session = session_factory(open_engine(result.db_url, create=False))
    with Session() as s:
        calls = s.scalars(select(LLMCall)).all()
        children = [c for c in calls if c.outcome == "child"]
        reasons = [c.reject_reason for c in calls if c.outcome != "child"]
        assert len(children) >= 0.95 * len(calls), reasons
        assert {c.answer_form for c in children} == {f for f in AnswerForm if f != AnswerForm.NONE and not f.salvaged}
        evaluated = s.scalars(select(Program).where(Program.iteration > 0, Program.status.in_(("ok", "failed")))).all()
        assert len(evaluated) == len(children)


def test_failed_model_calls_are_recorded_and_the_run_goes_on(ray_local, circle_packing, tmp_path):
    def always_500(request, index):
        return Reply(status=500)

    with ModelServer(always_500) as server:
        options = RunOptions(
            iterations=3,
            llm_concurrency=2,
            eval_workers=1,
            models=_model(server.url, max_attempts=2),
            sandbox="process",
        )
        result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="faults")
        assert len(server.calls) == 6  # two attempts for each of the three iterations
    Session = session_factory(open_engine(result.db_url, create=False))
    with Session() as s:
        calls = s.scalars(select(LLMCall)).all()
        assert [c.outcome for c in calls] == ["error"] * 3
        assert all("InternalServerError" in c.error or "500" in c.error for c in calls)
    assert result.progress.rejected == 3 and result.best.score == result.best.initial_score


def test_cost_budget_stops_the_run(ray_local, circle_packing, tmp_path):
    def priced(request, index):
        from model_server import good_diff

        return Reply(good_diff(request, index), prompt_tokens=10_000, completion_tokens=1_000)

    with ModelServer(priced) as server:
        # $0.012 per call (10k tokens at $1/M in, 1k at $2/M out): the budget covers about 4 calls.
        options = RunOptions(
            iterations=60,
            llm_concurrency=2,
            eval_workers=2,
            max_cost=0.05,
            models=_model(server.url),
            sandbox="process",
        )
        result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="budget")
    assert result.status == "stopped" and "cost budget" in str(result.stop_reason)
    assert result.stop_reason.kind == StopKind.BUDGET
    # Each call in flight reserves its price bound first (a first call: 6,000 prompt tokens and
    # 4,096 answer tokens, $0.0142): spending stops short of the budget by at most one bound, passes
    # it by at most one call's excess (this server reports more prompt tokens than it was sent), and
    # the reason says what was spent once every call has ended.
    assert 0.05 - (6000 * 1.0 + 4096 * 2.0) / 1e6 <= result.progress.cost <= 0.05 + 0.012
    assert f"${result.progress.cost:.4f} spent" in str(result.stop_reason)
    assert result.progress.completed < 10


def test_target_score_and_wall_time_stop_the_run(ray_local, circle_packing, tmp_path):
    target = evolve_run(
        circle_packing,
        RunOptions(iterations=50, target_score=1.0, sandbox="process"),
        runs_root=tmp_path,
        run_name="target",
    )
    assert target.status == "stopped" and "target score 1 reached" in str(target.stop_reason)
    assert target.stop_reason.kind == StopKind.TARGET_SCORE
    assert target.progress.completed == 0  # the initial program already scores above the target
    timed = evolve_run(
        circle_packing,
        # The wall time counts from the start (actors, the initial evaluation): enough for some work
        # even on a loaded machine.
        RunOptions(iterations=100_000, max_seconds=10, sandbox="process"),
        runs_root=tmp_path,
        run_name="timed",
    )
    assert timed.status == "stopped" and "wall time" in str(timed.stop_reason)
    assert timed.stop_reason.kind == StopKind.WALL_TIME
    assert 0 < timed.progress.completed < 100_000


def test_a_model_that_always_refuses_stops_the_run_with_the_reason(ray_local, circle_packing, tmp_path):
    def unauthorised(request, index):
        return Reply(status=401)

    with ModelServer(unauthorised) as server:
        options = RunOptions(
            iterations=200, llm_concurrency=2, eval_workers=1, models=_model(server.url), sandbox="process"
        )
        result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="refused")
        calls = len(server.calls)
    assert result.status == "failed" and "model calls keep failing" in str(result.stop_reason)
    assert "AuthenticationError" in str(result.stop_reason) and result.stop_reason.kind == StopKind.CALLS_FAILING
    assert 6 <= result.progress.completed <= 8 and calls == result.progress.completed  # 401 is not retried


def test_a_mutator_that_raises_is_recorded_not_lost(ray_local, tmp_path):
    import shutil

    from evolve.problem import load_problem

    folder = tmp_path / "typo"
    shutil.copytree(Path(__file__).resolve().parents[1] / "problems" / "circle_packing", folder)
    (folder / "prompts").mkdir()
    (folder / "prompts" / "system.j2").write_text("Problem: {{ problem.nmae }}\n")  # a typo in an override
    with ModelServer(lambda request, index: Reply("unused")) as server:
        options = RunOptions(
            iterations=30, llm_concurrency=2, eval_workers=1, models=_model(server.url), sandbox="process"
        )
        result = evolve_run(load_problem(folder), options, runs_root=tmp_path, run_name="typo")
        assert not server.calls  # the prompt never rendered, so no call was made
    assert result.status == "failed" and "nmae" in str(result.stop_reason)
    Session = session_factory(open_engine(result.db_url, create=False))
    with Session() as s:
        calls = s.scalars(select(LLMCall)).all()
        assert len(calls) == result.progress.completed >= 6
        assert all(c.outcome == "error" and "the mutator raised" in c.error for c in calls)
