"""What a self-hosted (small) model gets (issue 23): an answer's max_tokens sized from the program,
and re-asks only for what a re-ask fixes, at most one, without its rejected answer echoed back.
Through the real HTTP path to the scripted loopback server (a self-hosted model by its address);
what the server received is what is asserted."""

from __future__ import annotations

from evolve.edit.blocks import split
from evolve.kinds import AnswerForm
from evolve.mutate.answer_length import ANSWER_FLOOR, answer_tokens, sized_for
from evolve.mutate.llm import ModelSpec, count_tokens
from evolve.mutate.local import is_small, params_in_name
from evolve.mutate.prompt import ProblemView, build_messages
from evolve.mutate.propose import MutationTask, MutatorSettings, propose
from evolve.mutate.reask import HOSTED_RETRIES, SELF_HOSTED_RETRIES, fixed_by_reask, reask_policy
from evolve.mutate.views import ProgramView

from model_server import ModelServer, Reply, styled_answer

TWO_BLOCKS = "import math\n\n# EVOLVE-BLOCK-START\nA = 1.0\n# EVOLVE-BLOCK-END\n\n\ndef middle():\n    return 2\n\n\n# EVOLVE-BLOCK-START\nB = 2.0\n# EVOLVE-BLOCK-END\n"

PROSE = "I think a hexagonal arrangement would pack the circles better."
ALMOST = "    margin = 0.12\n    centers = []\n"  # the program says 0.1: a SEARCH that matches nothing
NEAR_MISS = (
    f"Move the circles out.\n<<<<<<< SEARCH\n{ALMOST}=======\n    margin = 0.11\n    centers = []\n>>>>>>> REPLACE\n"
)


def reasked(request: dict) -> bool:
    return request["messages"][-1]["content"].startswith("Your answer could not be applied")


SMALL = "openai/qwen2.5-coder-0.5b"  # a name that says 0.5B parameters: the focused prompt


def run(
    circle_packing,
    script,
    max_retries: int | None = None,
    max_tokens: int = 4096,
    model: str = "openai/qwen",
    small: bool | None = None,
):
    parent = ProgramView(1, circle_packing.initial_code, 1.0, {"score": 1.0})
    task = MutationTask(1, 0, parent, (), None, seed=3)
    with ModelServer(script) as server:
        spec = ModelSpec(model, api_base=server.url, max_tokens=max_tokens, max_attempts=1, small=small)
        settings = MutatorSettings(
            ProblemView("circle_packing", "Pack.", "python"), (spec,), 1.0, 0.0, max_retries=max_retries
        )
        proposal = propose(task, settings)
        return proposal, list(server.calls)


def test_answer_tokens_follow_the_program_within_a_floor_and_the_cap():
    assert answer_tokens(100, 4096) == ANSWER_FLOOR
    assert answer_tokens(900, 4096) == 2 * 900 + 256
    assert answer_tokens(3000, 4096) == 4096  # never above the model's (window-fitted) max_tokens
    assert answer_tokens(10, 300) == 300


def test_only_a_self_hosted_model_is_sized():
    hosted = ModelSpec("anthropic/claude-3-5-haiku-latest", max_tokens=4096)
    assert sized_for(hosted, lambda: 900) is hosted
    local = ModelSpec("openai/qwen", api_base="http://127.0.0.1:8080/v1", max_tokens=4096)
    assert sized_for(local, lambda: 900).max_tokens == 2056
    assert sized_for(ModelSpec("ollama/qwen2.5-coder:0.5b"), lambda: 100).max_tokens == ANSWER_FLOOR


def test_a_self_hosted_call_asks_for_what_a_rewrite_of_the_program_needs(circle_packing):
    proposal, calls = run(circle_packing, lambda r, i: Reply(styled_answer(r, i, "search_replace")))
    program = count_tokens("openai/qwen", [{"role": "user", "content": circle_packing.initial_code}], "http://x")
    assert proposal.child_code is not None
    assert calls[0]["max_tokens"] == answer_tokens(program, 4096) < 4096


def test_the_reask_policy_by_where_the_model_is_served():
    assert reask_policy(None, self_hosted=False) == reask_policy(HOSTED_RETRIES, self_hosted=True)
    small = reask_policy(None, self_hosted=True)
    assert (small.retries, small.fixable_only, small.echo) == (SELF_HOSTED_RETRIES, True, False)
    assert fixed_by_reask("SEARCH block 2 matches nothing: its line 1 'x' is not in the program", cut=False)
    assert fixed_by_reask("the child is not valid Python: line 3: invalid syntax ('x = = 1')", cut=False)
    assert not fixed_by_reask("the child is not valid Python: line 90: '(' was never closed", cut=True)
    assert not fixed_by_reask("the answer holds no edit: no SEARCH/REPLACE block", cut=False)
    assert not fixed_by_reask("the program in the answer changes code outside the EVOLVE-BLOCKs", cut=False)


def test_a_prose_answer_from_a_small_model_is_not_re_asked(circle_packing):
    proposal, calls = run(circle_packing, lambda r, i: Reply(PROSE))
    assert len(calls) == 1 and proposal.earlier_attempts == ()
    assert (proposal.reject_reason or "").startswith("the answer holds no edit")
    # The same model with max_retries set is re-asked for any reason, as a hosted one is.
    proposal, calls = run(circle_packing, lambda r, i: Reply(PROSE), max_retries=1)
    assert len(calls) == 2


def test_a_search_miss_is_re_asked_once_with_the_lines_to_copy_and_no_echo(circle_packing):
    def script(request: dict, index: int) -> Reply:
        return Reply(NEAR_MISS)  # the same miss every time: one re-ask, then the iteration ends

    proposal, calls = run(circle_packing, script)
    assert len(calls) == 1 + SELF_HOSTED_RETRIES == 2 and reasked(calls[1])
    assert [m["role"] for m in calls[1]["messages"]] == ["system", "user", "user"]  # no echo to copy
    assert "    margin = 0.1\n    centers = []" in calls[1]["messages"][-1]["content"]
    assert proposal.child_code is None and len(proposal.earlier_attempts) == 1

    def fixed(request: dict, index: int) -> Reply:
        return Reply(styled_answer(request, index, "search_replace") if reasked(request) else NEAR_MISS)

    proposal, calls = run(circle_packing, fixed)
    assert len(calls) == 2 and proposal.child_code is not None


def test_an_answer_cut_at_max_tokens_is_not_re_asked(circle_packing):
    cut = "Here it is:\n```python\ndef place_centers(:\n    rows = [5, 6"  # not valid Python, and cut
    proposal, calls = run(circle_packing, lambda r, i: Reply(cut, completion_tokens=r["max_tokens"]))
    assert len(calls) == 1 and proposal.child_code is None
    proposal, calls = run(circle_packing, lambda r, i: Reply(cut, completion_tokens=40))
    assert len(calls) == 2  # the same answer, not cut: its error line may be fixed


def test_a_small_models_rewrite_prompt_quotes_the_one_block_and_asks_for_it_alone(circle_packing):
    parent = ProgramView(1, circle_packing.initial_code, 1.0, {"score": 1.0})
    problem = ProblemView("circle_packing", "Pack.", "python")
    small = build_messages("full", problem, parent, [], None, small_model=True)[1]["content"]
    block = split(circle_packing.initial_code)[1][0].strip("\n")
    assert small.startswith(
        f"# Task\nRewrite this code of the current program with a better idea, not a small tweak:\n\n```python\n{block}\n```"
    )
    assert "complete new program" not in small and "your new version of the code quoted in the task" in small
    hosted = build_messages("full", problem, parent, [], None)[1]["content"]
    assert "complete new program" in hosted and "Rewrite this code" not in hosted
    two = ProgramView(1, TWO_BLOCKS, 1.0, {"score": 1.0})
    assert "complete new program" in build_messages("full", problem, two, [], None, small_model=True)[1]["content"]


def test_a_small_model_answering_the_block_alone_makes_the_child(circle_packing):
    new_block = split(circle_packing.initial_code)[1][0].replace("margin = 0.1", "margin = 0.09")

    def script(request: dict, index: int) -> Reply:
        asked = request["messages"][-1]["content"]
        assert "Rewrite this code of the current program" in asked
        return Reply(f"Move the circles out a little.\n```python\n{new_block}```\n")

    parent = ProgramView(1, circle_packing.initial_code, 1.0, {"score": 1.0})
    with ModelServer(script) as server:
        spec = ModelSpec("openai/qwen", api_base=server.url, max_attempts=1)
        settings = MutatorSettings(ProblemView("circle_packing", "Pack.", "python"), (spec,), 0.0, 1.0)
        proposal = propose(MutationTask(1, 0, parent, (), None, seed=3), settings)
    assert proposal.mutation == "full" and proposal.answer_form == AnswerForm.BLOCK_BODY
    assert proposal.child_code == circle_packing.initial_code.replace("margin = 0.1", "margin = 0.09")


def test_a_small_model_is_known_by_the_size_its_name_says_or_by_its_setting():
    sizes = {
        "openai/qwen2.5-coder-0.5b": 0.5,
        "ollama/llama3.2:1b": 1.0,
        "hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct": 7.0,
        "qwen3-30b-a3b": 30.0,  # the largest size the name says
        "gemma-2b-it": 2.0,
        "openai/qwen": None,
        "gpt-4o-mini": None,
        "qwen2.5b": None,  # not a size: part of a version
    }
    assert {name: params_in_name(name) for name in sizes} == sizes
    assert is_small("openai/qwen2.5-coder-0.5b") and is_small("deepseek-coder-1.3b-instruct")
    assert not is_small("llama-3.1-70b") and not is_small("openai/qwen")
    assert not is_small("openai/qwen2.5-coder-0.5b", small=False) and is_small("openai/qwen", small=True)


def test_a_small_models_prompt_shows_the_one_block_alone(circle_packing):
    parent = ProgramView(1, circle_packing.initial_code, 0.93, {"score": 0.93})
    problem = ProblemView("circle_packing", "Pack 26 circles.", "python")
    block = split(circle_packing.initial_code)[1][0].strip("\n")
    frozen = "def construct_packing():"
    for mutation, ask in (("diff", "one focused change"), ("full", "a better idea")):
        system, user = (m["content"] for m in build_messages(mutation, problem, parent, [], None, focused=True))
        assert system == "You are an expert python programmer.\n"
        assert user.startswith(f"Improve this python code for the problem below with {ask}")
        assert f"```python\n{block}\n```" in user and "Current score: 0.93 " in user
        assert frozen not in user and "EVOLVE-BLOCK" not in user and "Pack 26 circles." in user
    first = ProgramView(1, circle_packing.initial_code, None)  # a first proposal: no score yet
    assert "Current score" not in build_messages("diff", problem, first, [], None, focused=True)[1]["content"]
    # Crossovers and repairs, and programs with several blocks, keep the whole-program prompts.
    crossover = build_messages("crossover", problem, parent, [], None, second_parent=parent, focused=True)
    assert frozen in crossover[1]["content"]
    two = ProgramView(1, TWO_BLOCKS, 1.0, {"score": 1.0})
    assert "EVOLVE-BLOCK" in build_messages("diff", problem, two, [], None, focused=True)[1]["content"]
    assert frozen in build_messages("diff", problem, parent, [], None)[1]["content"]


def test_a_small_model_answering_its_prompt_with_the_block_makes_the_child(circle_packing):
    """Through the HTTP path: a model named as 0.5B gets small.j2 and its code becomes the block;
    `[[models]] small = false` gives the same model the whole-program prompt."""
    new_block = split(circle_packing.initial_code)[1][0].replace("margin = 0.1", "margin = 0.08")

    def script(request: dict, index: int) -> Reply:
        return Reply(f"Move the circles towards the walls.\n```python\n{new_block}```\n")

    for small, whole_program_shown in ((None, False), (False, True)):
        proposal, calls = run(circle_packing, script, model=SMALL, small=small)
        asked = calls[0]["messages"][-1]["content"]
        assert ("def construct_packing():" in asked) is whole_program_shown
        assert proposal.answer_form == AnswerForm.BLOCK_BODY
        assert proposal.child_code == circle_packing.initial_code.replace("margin = 0.1", "margin = 0.08")


def test_a_small_models_reask_asks_for_the_code_alone_again(circle_packing):
    block = split(circle_packing.initial_code)[1][0]
    broken = block.replace("margin = 0.1", "margin = = 0.1")
    fixed = block.replace("margin = 0.1", "margin = 0.09")

    def script(request: dict, index: int) -> Reply:
        return Reply(f"Smaller margins.\n```python\n{broken if index == 0 else fixed}```\n")

    proposal, calls = run(circle_packing, script, model=SMALL)
    reask = calls[1]["messages"][-1]["content"]
    assert len(calls) == 2 and reask.startswith("Your answer could not be applied: the child is not valid Python")
    assert "only\nthat code" in reask and "EVOLVE-BLOCK" not in reask and "complete program" not in reask
    assert proposal.child_code == circle_packing.initial_code.replace("margin = 0.1", "margin = 0.09")


def test_a_small_model_giving_its_code_back_unchanged_is_asked_once_for_a_different_version(circle_packing):
    block = split(circle_packing.initial_code)[1][0]
    changed = block.replace("margin = 0.1", "margin = 0.07")

    def script(request: dict, index: int) -> Reply:
        return Reply(f"Same idea.\n```python\n{block if index == 0 else changed}```\n")

    proposal, calls = run(circle_packing, script, model=SMALL)
    assert len(calls) == 2 and "Your code is the same as the original" in calls[1]["messages"][-1]["content"]
    assert calls[1]["temperature"] > calls[0]["temperature"]
    assert proposal.child_code == circle_packing.initial_code.replace("margin = 0.1", "margin = 0.07")
    # Only after the focused prompt: the whole-program prompt's unchanged answer is not re-asked.
    assert fixed_by_reask("the edit changes nothing (the child is identical to its parent)", cut=False, focused=True)
    assert not fixed_by_reask("the edit changes nothing (the child is identical to its parent)", cut=False)
    assert not fixed_by_reask("the edit changes only comments or formatting, not the program", cut=True, focused=True)
