"""Re-asking within the iteration: a rejected answer goes back to the model, in the same
conversation and with the exact reason, up to `max_retries` times; every answer is its own
llm_calls row. Through litellm's real HTTP path to a loopback server, into a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from evolve.edit import NO_EDIT
from evolve.engine.population_actor import PopulationActor
from evolve.inspect.summary import summary
from evolve.kinds import AnswerForm, CallOutcome
from evolve.mutate.llm import ModelSpec
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import MutatorSettings, propose
from evolve.sandbox.base import EvalOutcome
from evolve.store import LLMCall, RunConfig

from model_server import NOT_APPLYING, PROSE, ModelServer, Reply, is_retry, styled_answer

NOT_APPLYING_REASON = (
    "SEARCH block 1 matches nothing in the program: its line 1 'this line is not in the program' is not in the "
    "program (closest: line "
)


def settings(url: str, max_retries: int = 2, prompts_dir: str | None = None) -> MutatorSettings:
    return MutatorSettings(
        problem=ProblemView("circle_packing", "Pack circles.", "python", prompts_dir),
        models=(ModelSpec(name="openai/test-model", api_base=url, backoff=0.01, max_attempts=1, price_in=1.0),),
        full_weight=0.0,
        max_retries=max_retries,
    )


def open_db(tmp_path: Path, problem, resume: bool = False) -> PopulationActor:
    return PopulationActor(f"sqlite:///{tmp_path / 'e.db'}", "r", problem, RunConfig(), 1, "test", "llm", 10, resume)


def first_task(db: PopulationActor):
    start = db.start()
    assert start.initial_ticket is not None
    db.submit_result(start.initial_ticket, EvalOutcome(ok=True, score=1.0, metrics={"min_radius": 0.05}, sandbox="t"))
    return db.next_task()


def wrong_then_right(request: dict, index: int) -> Reply:
    if is_retry(request):
        return Reply(styled_answer(request, index, "search_replace"), prompt_tokens=300, completion_tokens=40)
    return Reply(NOT_APPLYING, prompt_tokens=200, completion_tokens=30)


def test_a_rejected_answer_goes_back_with_its_reason_and_the_retry_makes_the_child(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    with ModelServer(wrong_then_right) as server:
        proposal = propose(first_task(db), settings(server.url))
        requests = list(server.calls)
    assert len(requests) == 2 and proposal.child_code is not None, proposal.reject_reason
    assert proposal.answer_form == AnswerForm.SEARCH_REPLACE and proposal.reject_reason is None
    (earlier,) = proposal.earlier_attempts
    assert earlier.reject_reason.startswith(NOT_APPLYING_REASON) and earlier.answer == NOT_APPLYING
    assert earlier.answer_form == AnswerForm.SEARCH_REPLACE
    assert (earlier.usage.prompt_tokens, proposal.usage.prompt_tokens) == (200, 300)
    assert abs(proposal.total_cost - (200 + 300) / 1e6) < 1e-12  # both calls, priced per prompt token

    # The second request is the same conversation, the model's own answer, then the exact reason.
    first, second = requests[0]["messages"], requests[1]["messages"]
    assert second[: len(first)] == first
    assert second[len(first)] == {"role": "assistant", "content": NOT_APPLYING}
    assert second[-1]["role"] == "user" and earlier.reject_reason in second[-1]["content"]
    assert "Retry 1 of 2" in second[-1]["content"]
    assert "[assistant]\n" + NOT_APPLYING.strip() in proposal.prompt  # the stored prompt is what was sent

    admission = db.submit_proposal(proposal)
    assert admission.ticket is not None and admission.progress.cost == proposal.total_cost
    with db.Session() as s:
        rows = s.scalars(select(LLMCall).order_by(LLMCall.id)).all()
    assert [(r.attempt, r.retried, r.outcome, r.answer_form) for r in rows] == [
        (1, True, CallOutcome.REJECTED, AnswerForm.SEARCH_REPLACE),
        (2, False, CallOutcome.CHILD, AnswerForm.SEARCH_REPLACE),
    ]
    assert rows[0].reject_reason == earlier.reject_reason and rows[0].prompt_tokens == 200
    assert rows[1].prompt_tokens == 300 and rows[0].iteration == rows[1].iteration
    db.close()


def test_retries_stop_at_max_retries_and_the_last_answer_is_the_outcome(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    task = first_task(db)
    with ModelServer(lambda request, index: Reply(f"{PROSE} (take {index})")) as server:  # never the same answer
        proposal = propose(task, settings(server.url, max_retries=2))
        assert len(server.calls) == 3
    assert proposal.child_code is None and proposal.reject_reason == NO_EDIT
    assert proposal.answer_form == AnswerForm.NONE and len(proposal.earlier_attempts) == 2
    with ModelServer(lambda request, index: Reply(PROSE)) as server:
        once = propose(task, settings(server.url, max_retries=0))
        assert len(server.calls) == 1 and once.earlier_attempts == ()

    db.submit_proposal(proposal)
    db.close()
    resumed = open_db(tmp_path, circle_packing, resume=True)  # three rows, one iteration
    assert (resumed.progress.completed, resumed.progress.rejected) == (1, 1)
    run = summary(resumed.engine, resumed.run_id)
    assert run.iterations_done == 1
    (model,) = run.models
    assert (model.calls, model.iterations, model.retried) == (3, 1, 2)
    assert model.answer_forms == {"none": 3} and model.first_try_share == 0.0
    resumed.close()


def test_a_call_that_fails_during_a_retry_ends_the_iteration(circle_packing, tmp_path):
    def script(request: dict, index: int) -> Reply:
        return Reply(status=400) if is_retry(request) else Reply(NOT_APPLYING)

    db = open_db(tmp_path, circle_packing)
    with ModelServer(script) as server:
        proposal = propose(first_task(db), settings(server.url))
    assert proposal.error is not None and proposal.answer_form is None
    assert len(proposal.earlier_attempts) == 1 and proposal.reject_reason.startswith("the model call failed")
    db.close()


def test_first_try_and_after_retry_success_per_model(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    task = first_task(db)
    with ModelServer(lambda request, index: Reply(styled_answer(request, index, "full_program"))) as server:
        db.submit_proposal(propose(task, settings(server.url)))
    with ModelServer(wrong_then_right) as server:
        db.submit_proposal(propose(db.next_task(), settings(server.url)))
    (model,) = summary(db.engine, db.run_id).models
    assert (model.calls, model.iterations, model.retried, model.children) == (3, 2, 1, 2)
    assert (model.first_try_share, model.after_retry_share) == (0.5, 1.0)
    assert model.answer_forms == {"search_replace": 2, "full_program": 1}
    db.close()


def test_the_retry_message_is_a_template_a_problem_may_override(tmp_path, circle_packing):
    (tmp_path / "retry.j2").write_text("Nope ({{ form }}, retry {{ attempt }}/{{ max_retries }}): {{ reason }}\n")
    db = open_db(tmp_path, circle_packing)
    with ModelServer(wrong_then_right) as server:
        proposal = propose(first_task(db), settings(server.url, prompts_dir=str(tmp_path)))
        retry = server.calls[1]["messages"][-1]["content"]
    assert proposal.child_code is not None
    assert retry == f"Nope (search_replace, retry 1/2): {proposal.earlier_attempts[0].reject_reason}\n"
    db.close()


def test_a_database_from_before_the_retry_columns(tmp_path, circle_packing):
    import sqlite3

    from evolve.store.db import add_missing_columns, open_engine

    db = open_db(tmp_path, circle_packing)
    with ModelServer(lambda request, index: Reply(styled_answer(request, index, "unified_diff"))) as server:
        db.submit_proposal(propose(first_task(db), settings(server.url)))
    db.close()
    con = sqlite3.connect(tmp_path / "e.db")
    for column in ("answer_form", "attempt", "retried"):
        con.execute(f"alter table llm_calls drop column {column}")
    con.commit()
    con.close()

    engine = open_engine(f"sqlite:///{tmp_path / 'e.db'}", create=False)
    old = summary(engine, 1)  # a reader never alters the database
    (model,) = old.models
    assert (old.iterations_done, model.iterations, model.first_try_share, model.answer_forms) == (0, 1, 1.0, {})
    assert add_missing_columns(engine) == ["llm_calls.answer_form", "llm_calls.attempt", "llm_calls.retried"]
    engine.dispose()
    resumed = open_db(tmp_path, circle_packing, resume=True)  # NULLs: one attempt, not retried
    assert resumed.progress.rejected == 0 and resumed.next_iteration == 2
    resumed.close()
