import dataclasses

import pytest
from jinja2 import UndefinedError

from evolve.mutate.prompt import ProblemView, build_messages, render, retry_message
from evolve.mutate.views import ProgramView

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


# ---- what a prompt remembers (issue 10, part 3) ------------------------------------------------

from evolve.mutate.budget import PromptParts, fit, shrink_prompt  # noqa: E402
from evolve.mutate.memory import (  # noqa: E402
    CellAxis,
    Coordinates,
    InsightNote,
    LineageStep,
    Memory,
    TriedKind,
    compact_diff,
    evaluated,
    log_tail,
    pick_tried,
    rejected,
)

AXES = (CellAxis("code_length", 0.0, 6000.0, 10), CellAxis("min_radius", 0.0, 0.1, 10))
TOP = ProgramView(
    9, "# EVOLVE-BLOCK-START\nx = 9\n# EVOLVE-BLOCK-END\n", 0.9, {"score": 0.9}, "top feedback", idea="Nine."
)
ELITE = ProgramView(7, "# EVOLVE-BLOCK-START\nx = 7\n# EVOLVE-BLOCK-END\n", 0.4, {}, "", "x = 7\n", cell=(0, 9))


def step(program_id: int, idea: str) -> LineageStep:
    return LineageStep(
        program_id, program_id - 1, program_id, "diff", idea, f"-x = {program_id - 1}\n+x = 1\n", 0.5, 0.4
    )


def crash(iteration: int, parent_id: int = 1):
    logs = (
        'stdout noise\nTraceback (most recent call last):\n  File "p.py", line 3\nZeroDivisionError: division by zero\n'
    )
    return evaluated(
        program_id=100 + iteration,
        iteration=iteration,
        island=0,
        parent_id=parent_id,
        mutation="diff",
        idea=f"crash idea {iteration}",
        parent_score=0.5,
        ok=False,
        score=None,
        reason="crash: exit code 1",
        feedback="case 2 divided by zero",
        logs=logs,
    )


MEMORY = Memory(
    lineage=(step(2, "oldest idea"), step(3, "newest idea")),
    top=(TOP,),
    diverse=(ELITE,),
    tried=(rejected(4, 0, 1, "diff", "rejected idea", "SEARCH block 1 matches nothing"), crash(5)),
    coordinates=Coordinates(AXES, (2, 4)),
    insight=InsightNote(25, "Findings: x matters."),
)


def test_bounded_helpers():
    diff = "--- parent\n+++ child\n" + "".join(f"+line {i}\n" for i in range(50))
    compact = compact_diff(diff, lines=10)
    assert "--- parent" not in compact and compact.count("\n") == 11 and "(40 more diff lines)" in compact
    tail = log_tail("x\n" * 100 + "Traceback (most recent call last):\n  File a\nValueError: bad\n")
    assert tail == "Traceback (most recent call last):\n  File a\nValueError: bad"
    assert len(log_tail("y" * 5000, chars=300)) == 300


def test_an_evaluated_child_is_tried_when_it_failed_or_did_not_improve():
    common = dict(program_id=8, iteration=3, island=1, parent_id=2, mutation="full", idea="i", reason="ok", logs="")
    assert evaluated(**common, parent_score=0.5, ok=True, score=0.6, feedback="") is None
    worse = evaluated(**common, parent_score=0.5, ok=True, score=0.5, feedback="")
    assert worse is not None and worse.kind == TriedKind.WORSE and worse.delta == 0.0
    failed = crash(3)
    assert failed is not None and failed.kind == TriedKind.FAILED and failed.traceback.endswith("division by zero")
    assert "Evaluator feedback: case 2 divided by zero" in failed.detail


def test_tried_picks_this_parents_attempts_first_then_the_islands_oldest_first():
    entries = [rejected(i, 0, 1 if i % 3 == 0 else 2, "diff", f"idea {i}", "no") for i in range(1, 13)]
    picked = pick_tried(entries, parent_id=1, count=5)
    assert [e.iteration for e in picked] == [3, 6, 9, 11, 12]
    assert pick_tried(entries, parent_id=1, count=0) == ()


def test_the_prompt_shows_lineage_top_diverse_tried_cell_and_insight():
    problem = ProblemView("demo", "Make x big.", "python")
    _, user = build_messages("diff", problem, PARENT, [TOP, INSPIRATION], None, MEMORY)
    text = user["content"]
    assert text.index("# Current program") < text.index("# How the current program came about")
    assert "Idea: oldest idea" in text and "Idea: newest idea" in text and "score 0.5 (+0.1)" in text
    assert "-x = 2\n+x = 1" in text
    assert "MAP-Elites cell: code_length 1200–1800 (bin 3 of 10), min_radius 0.04–0.05 (bin 5 of 10)" in text
    assert "- min_radius: the evaluator's metric 'min_radius', from 0 to 0.1 in 10 bins" in text
    assert "## Program 9 (score 0.9)" in text and "x = 9" in text and "top feedback" in text and "Idea: Nine." in text
    assert "min_radius 0.09–0.1 (bin 10 of 10)" in text and "x = 7" in text
    assert text.count("x = 9") == 1  # the top program is not shown again as an inspiration
    assert "score 0.7" in text  # the other inspiration still is
    assert "Your edit was rejected: SEARCH block 1 matches nothing" in text
    assert "The child failed its evaluation: crash: exit code 1" in text and "ZeroDivisionError" in text
    assert "# What this run has learned so far (after 25 evaluations)\nFindings: x matters." in text


def test_without_memory_the_last_failure_is_shown():
    _, user = build_messages("diff", ProblemView("demo", "", "python"), PARENT, [], "it broke")
    assert "# The previous attempt on this island failed\nit broke" in user["content"]
    assert "How the current program" not in user["content"] and "Tried before" not in user["content"]


def test_fit_drops_the_least_important_and_oldest_first():
    parts = PromptParts((INSPIRATION,), MEMORY)
    order = []
    state: PromptParts | None = parts
    while state is not None:
        order.append(state)
        state = shrink_prompt(state)
    sizes = [
        (len(s.inspirations), len(s.memory.diverse), len(s.memory.lineage), len(s.memory.top), len(s.memory.tried))
        for s in order
    ]
    assert sizes == [
        (1, 1, 2, 1, 2),
        (0, 1, 2, 1, 2),
        (0, 0, 2, 1, 2),
        (0, 0, 1, 1, 2),
        (0, 0, 0, 1, 2),
        (0, 0, 0, 0, 2),
        (0, 0, 0, 0, 1),
        (0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0),
    ]
    assert order[3].memory.lineage == (MEMORY.lineage[1],)  # the oldest step went first
    assert order[6].memory.tried == (MEMORY.tried[1],)  # and the oldest attempt
    assert order[-2].memory.insight is not None and order[-1].memory.insight is None
    assert order[-1].memory.coordinates == MEMORY.coordinates  # never dropped
    two_best = shrink_prompt(PromptParts((), dataclasses.replace(MEMORY, diverse=(), top=(TOP, INSPIRATION))))
    assert two_best is not None and two_best.memory.top == (TOP,) and two_best.memory.lineage == MEMORY.lineage


def test_fit_keeps_the_largest_prompt_within_the_budget():
    from evolve.mutate.llm import count_tokens

    problem = ProblemView("demo", "", "python")

    def tokens(parts: PromptParts) -> int:
        return count_tokens(
            "openai/test-model", build_messages("diff", problem, PARENT, list(parts.inspirations), None, parts.memory)
        )

    parts = PromptParts((INSPIRATION,), MEMORY)
    everything = tokens(parts)
    assert fit(parts, shrink_prompt, tokens, everything).dropped == 0
    fitted = fit(parts, shrink_prompt, tokens, everything - 1)
    assert fitted.dropped == 1 and fitted.tokens <= everything - 1 and fitted.state.inspirations == ()
    smallest = fit(parts, shrink_prompt, tokens, 10)  # below the parent and the task: as small as it gets
    assert smallest.state.memory.insight is None and smallest.tokens > 10 and not smallest.within(10)
    middle = fit(parts, shrink_prompt, tokens, (everything + smallest.tokens) // 2)
    assert middle.within((everything + smallest.tokens) // 2) and 0 < middle.dropped < 8


def test_the_prompt_table_has_working_defaults_and_refuses_unknown_keys(tmp_path):
    from evolve.errors import ProblemError
    from evolve.problem import parse_config

    head = 'name = "demo"\nprogram = "p.py"\n'
    defaults = parse_config(tmp_path / "problem.toml", head).prompt
    assert (defaults.lineage, defaults.top, defaults.diverse, defaults.tried) == (3, 2, 2, 5)
    assert (defaults.token_budget, defaults.insight_interval) == (6000, 25)
    chosen = parse_config(tmp_path / "problem.toml", head + "[prompt]\ntop = 0\ninsight_interval = 0\n").prompt
    assert (chosen.top, chosen.insight_interval) == (0, 0)
    with pytest.raises(ProblemError, match=r"unknown key 'prompt.insights_every'"):
        parse_config(tmp_path / "problem.toml", head + "[prompt]\ninsights_every = 10\n")
    with pytest.raises(ProblemError, match=r"key 'prompt.token_budget'"):
        parse_config(tmp_path / "problem.toml", head + "[prompt]\ntoken_budget = 100\n")
