import pytest
from jinja2 import UndefinedError

from evolve.mutate.prompt import ProblemView, ProgramView, build_messages, render, retry_message

PARENT = ProgramView(
    1, "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n", 0.5, {"score": 0.5, "speed": 2.0}, "case 3 is slow"
)
INSPIRATION = ProgramView(2, "# EVOLVE-BLOCK-START\nx = 2\n# EVOLVE-BLOCK-END\n", 0.7, {"score": 0.7}, "", "x = 2\n")


def test_diff_prompt_shows_parent_metrics_feedback_inspirations_and_failure():
    problem = ProblemView("demo", "Make x big.", "python")
    system, user = build_messages("diff", problem, PARENT, [INSPIRATION], "SEARCH block 1 matches nothing")
    assert "Make x big." in system["content"] and "EVOLVE-BLOCK" in system["content"]
    text = user["content"]
    assert "x = 1" in text and "speed=2" in text and "case 3 is slow" in text
    assert "score 0.7" in text and "x = 2" in text
    assert "SEARCH block 1 matches nothing" in text
    assert "<<<<<<< SEARCH" in text


def test_full_prompt_asks_for_a_whole_program():
    problem = ProblemView("demo", "", "python")
    _, user = build_messages("full", problem, PARENT, [], None)
    assert "complete new program" in user["content"] and "previous attempt" not in user["content"]


def test_a_problem_can_override_any_template(tmp_path):
    (tmp_path / "system.j2").write_text("Custom system for {{ problem.name }}.")
    problem = ProblemView("demo", "", "python", prompts_dir=str(tmp_path))
    system, user = build_messages("diff", problem, PARENT, [], None)
    assert system["content"] == "Custom system for demo.\n"
    assert "x = 1" in user["content"]  # templates it does not override come from prompts/


def test_a_typo_in_a_template_is_an_error(tmp_path):
    (tmp_path / "system.j2").write_text("{{ problem.nmae }}")
    with pytest.raises(UndefinedError):
        render("system.j2", ProblemView("demo", "", "python", prompts_dir=str(tmp_path)))


@pytest.mark.parametrize(
    "form,mutation,asks",
    [
        ("search_replace", "full", "Copy each SEARCH part verbatim"),
        ("unified_diff", "diff", "unified diff whose context"),
        ("full_program", "diff", "complete program in one fenced code block"),
        ("block_body", "full", "complete program in one fenced code block"),
        ("none", "diff", "<<<<<<< SEARCH"),
        ("none", "full", "complete new program"),
    ],
)
def test_the_retry_message_gives_the_reason_and_asks_for_the_form_that_failed(form, mutation, asks):
    reason = "SEARCH block 1 matches nothing in the program: its line 1 'x = 3' is not in the program"
    message = retry_message(ProblemView("demo", "", "python"), mutation, reason, form, 1, 2)
    assert message["role"] == "user"
    assert message["content"].startswith(f"Your answer could not be applied: {reason}\n")
    assert asks in message["content"] and "(Retry 1 of 2.)" in message["content"]
