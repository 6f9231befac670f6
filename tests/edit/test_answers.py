"""The one answer reader (evolve/edit/answers.py): which form an answer is in, the strongest
evidence first; reasoning and prose skipped; the stated idea; an answer with no edit named so."""

from __future__ import annotations

import pytest

from evolve.edit import IDEA_CHARS, NO_EDIT, EditRejected, stated_idea, strip_reasoning
from evolve.kinds import AnswerForm

from edit_helpers import CHILD, EDIT, PROGRAM, SMALL, apply_full_rewrite, child_of, rejection, sr


def test_search_replace_answering_a_rewrite_prompt_is_read_as_an_edit():
    # The old reader took this for code ("the child is not valid Python: line 9").
    answer = "I'll make one focused change instead of rewriting:\n\n```python\n" + EDIT + "```\n"
    assert child_of(answer, AnswerForm.SEARCH_REPLACE) == CHILD


def test_reasoning_before_the_answer_is_skipped():
    thinking = "<think>\nMaybe rewrite everything:\n```python\ndef priority(job):\n    return 0\n```\nNo.\n</think>\n"
    assert child_of(thinking + EDIT, AnswerForm.SEARCH_REPLACE) == CHILD
    assert child_of("Lots of thinking...\n</think>\n\n" + EDIT, AnswerForm.SEARCH_REPLACE) == CHILD
    assert strip_reasoning("<thinking>a</thinking>b") == "b"


def test_stray_snippets_in_prose_do_not_become_the_child():
    answer = (
        "The weight in\n```python\nweight = 0.5\n```\nis too small; something like\n```python\nweight = 0.75\n```\n"
        f"works better. The complete program:\n\n```python\n{CHILD}```\n"
    )
    assert child_of(answer, AnswerForm.FULL_PROGRAM) == CHILD
    snippet_then_edit = "Currently:\n```python\nweight = 0.5\n```\n" + EDIT
    assert child_of(snippet_then_edit, AnswerForm.SEARCH_REPLACE) == CHILD


def test_a_before_and_after_pair_gives_the_after():
    answer = f"Before:\n```python\n{PROGRAM}```\nAfter:\n```python\n{CHILD}```\n"
    assert child_of(answer, AnswerForm.FULL_PROGRAM) == CHILD


def test_answers_without_an_edit():
    assert rejection("You could try a priority queue keyed on slack.") == (AnswerForm.NONE, NO_EDIT)
    assert rejection("Done.") == (AnswerForm.NONE, NO_EDIT)
    assert rejection("") == (AnswerForm.NONE, "the answer is empty")
    assert rejection("<think>I need to consider the deadline handling and") == (
        AnswerForm.NONE,
        "the answer holds only reasoning, no edit",
    )
    assert rejection("<<<<<<< SEARCH\n    weight = 0.5\n=======\n    weight = 0.75\n") == (
        AnswerForm.SEARCH_REPLACE,
        "the answer has SEARCH/REPLACE markers but no complete block: each block is a '<<<<<<< SEARCH' line, "
        "the text to find, a '=======' line, its replacement and a '>>>>>>> REPLACE' line",
    )


def test_a_failed_edit_does_not_fall_back_to_a_snippet():
    # The snippet would parse as a block body; reading it so would replace the whole function.
    answer = "Like this:\n```python\nweight = 0.75\n```\n" + sr("    weight = 0.3", "    weight = 0.75")
    form, reason = rejection(answer)
    assert form == AnswerForm.SEARCH_REPLACE and reason.startswith("SEARCH block 1 matches nothing")


def test_other_languages_are_not_parsed_and_bare_prose_is_no_body():
    c_program = "#include <stdio.h>\n// EVOLVE-BLOCK-START\nint f(int x) { return x; }\n// EVOLVE-BLOCK-END\n"
    child = child_of("```c\nint f(int x) { return 2 * x; }\n```", AnswerForm.BLOCK_BODY, c_program, "c")
    assert "return 2 * x" in child and child.startswith("#include <stdio.h>\n// EVOLVE-BLOCK-START\n")
    assert rejection("Return twice the input.", c_program, "c") == (AnswerForm.NONE, NO_EDIT)


def test_prose_without_blocks_is_rejected():
    assert rejection("You could try harder.", SMALL) == (AnswerForm.NONE, NO_EDIT)


def test_full_rewrite_without_code_is_rejected():
    with pytest.raises(EditRejected, match="holds no edit"):
        apply_full_rewrite(SMALL, "just words")


@pytest.mark.parametrize(
    "answer,idea",
    [
        ("Nudge the margin.\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n", "Nudge the margin."),
        ("### Idea\n\nSpread the circles\nout.\n\n```python\nx = 2\n```\n", "Idea Spread the circles out."),
        ("<think>maybe\n```python\nx = 3\n```\n</think>\nUse a grid.\n--- a/p.py\n+++ b/p.py\n", "Use a grid."),
        ("Here it is.\n\nimport numpy as np\nx = 2\n", "Here it is."),
        ("I set margin = 0.2 for room.\nmargin = 0.2\n", "I set margin = 0.2 for room."),
        ("<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n", ""),
        ("x = 2\n", ""),
        ("", ""),
    ],
)
def test_the_stated_idea_is_the_prose_before_the_edit(answer, idea):
    assert stated_idea(answer) == idea


def test_a_stated_idea_is_bounded():
    idea = stated_idea("word " * 500 + "\n```python\nx = 1\n```\n")
    assert len(idea) == IDEA_CHARS and idea.endswith("…")
