"""propose(): one mutation task in, one Proposal out (offline, and through a model on loopback)."""

from __future__ import annotations

from evolve.kinds import AnswerForm
from evolve.mutate.ast_sites import EditKind
from evolve.mutate.llm import ModelSpec
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import OFFLINE_MODEL, MutationTask, MutatorSettings, propose
from evolve.mutate.views import ProgramView

from model_server import ModelServer, Reply, good_diff

PROGRAM = "import math\n\n# EVOLVE-BLOCK-START\ndef f(x):\n    return 0.5 * x + 3.25\n# EVOLVE-BLOCK-END\n"
PROBLEM = ProblemView(name="toy", description="make f better", language="python")


def task(code: str = PROGRAM, seed: int = 1) -> MutationTask:
    parent = ProgramView(7, code, 0.5, {"score": 0.5}, "")
    inspiration = ProgramView(3, code, 0.4, {"score": 0.4}, "")
    return MutationTask(iteration=4, island=2, parent=parent, inspirations=(inspiration,), last_failure=None, seed=seed)


def test_offline_proposal_is_seeded_and_names_its_edit():
    first = propose(task(), MutatorSettings(PROBLEM))
    assert first == propose(task(), MutatorSettings(PROBLEM))
    assert (first.iteration, first.island, first.parent_id, first.inspiration_ids) == (4, 2, 7, (3,))
    assert first.model == OFFLINE_MODEL and first.mutation == "offline"
    assert first.child_code and first.child_code != PROGRAM and first.reject_reason is None
    assert first.answer and "->" in first.answer  # what changed, e.g. "constant: return 0.5 * x + 3.25 -> ..."
    # The edit kinds go with the child as its idea, e.g. "offline: arithmetic, constant".
    assert first.idea and first.idea.startswith("offline: ")
    kinds = first.idea.removeprefix("offline: ").split(", ")
    assert kinds and set(kinds) <= {k.value for k in EditKind}
    assert all(f"{k}: " in first.answer for k in kinds)


def test_offline_with_nothing_to_perturb_is_a_rejection():
    code = "# EVOLVE-BLOCK-START\n# only a comment\n# EVOLVE-BLOCK-END\n"
    proposal = propose(task(code), MutatorSettings(PROBLEM))
    assert proposal.child_code is None and "changes nothing" in (proposal.reject_reason or "")


def model(url: str) -> tuple[ModelSpec, ...]:
    return (ModelSpec(name="openai/test-model", api_base=url, backoff=0.01, max_attempts=1),)


def test_a_model_answer_becomes_a_child_with_its_costs():
    with ModelServer(lambda request, index: Reply(good_diff(request, index), prompt_tokens=10)) as server:
        proposal = propose(task(), MutatorSettings(PROBLEM, models=model(server.url), full_weight=0.0))
    assert proposal.mutation == "diff" and proposal.model == "openai/test-model"
    assert proposal.child_code and proposal.child_code != PROGRAM, proposal.reject_reason
    assert proposal.usage.prompt_tokens == 10 and proposal.error is None and proposal.inspiration_ids == (3,)
    assert proposal.answer_form == AnswerForm.SEARCH_REPLACE and proposal.earlier_attempts == ()
    assert "make f better" in proposal.prompt


def test_a_failed_call_and_a_useless_answer_are_rejections():
    with ModelServer(lambda request, index: Reply(status=400)) as server:
        failed = propose(task(), MutatorSettings(PROBLEM, models=model(server.url)))
    assert failed.child_code is None and failed.error
    assert (failed.reject_reason or "").startswith("the model call failed")
    # max_retries set: re-asked for any reason (unset, a loopback model is not re-asked for prose:
    # tests/test_small_models.py).
    with ModelServer(lambda request, index: Reply("I have no idea.")) as server:
        settings = MutatorSettings(PROBLEM, models=model(server.url), full_weight=0.0, max_retries=2)
        useless = propose(task(), settings)
    assert useless.child_code is None and useless.reject_reason and useless.answer == "I have no idea."
    # Asked once more; the same answer again ends the iteration (a third ask would get it again too).
    assert useless.answer_form == AnswerForm.NONE and len(useless.earlier_attempts) == 1
    assert useless.reject_reason.startswith("the re-ask repeated the same answer (the answer holds no edit")


def test_a_rewrite_prompt_answered_with_an_edit_makes_the_child():
    # Before issue 10 this answer was read as code: "the child is not valid Python".
    with ModelServer(lambda request, index: Reply(good_diff(request, index))) as server:
        proposal = propose(task(), MutatorSettings(PROBLEM, models=model(server.url), diff_weight=0.0))
        assert len(server.calls) == 1
    assert proposal.mutation == "full" and proposal.answer_form == AnswerForm.SEARCH_REPLACE
    assert proposal.child_code and "return 0.5 * x + 3.25" not in proposal.child_code


def test_the_offline_mutator_never_re_asks():
    code = "# EVOLVE-BLOCK-START\n# only a comment\n# EVOLVE-BLOCK-END\n"
    proposal = propose(task(code), MutatorSettings(PROBLEM, max_retries=5))
    assert proposal.child_code is None and proposal.earlier_attempts == () and proposal.answer_form is None
