"""Prompts that small models follow (issue 23, part 2): the example edit quotes real lines of the
program being edited, never a placeholder; the task comes before the long context and is
repeated in a line after it. Rendered from this checkout's prompts/ for every shipped problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evolve.edit import read_answer
from evolve.edit.blocks import block_bodies
from evolve.kinds import AnswerForm
from evolve.mutate.example import EditExample, example_edit, example_lines
from evolve.mutate.prompt import ProblemView, build_messages
from evolve.mutate.views import ProgramView
from evolve.problem import load_problem

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = str(ROOT / "prompts")  # this checkout's templates, whatever `evolve` is installed from
PROBLEMS = sorted(p.parent.name for p in (ROOT / "problems").glob("*/problem.toml"))
PLACEHOLDERS = ("code to find", "code to put in its place")
_EXAMPLE = re.compile(r"^<<<<<<< SEARCH\n(.*?)\n=======\n(.*?)\n>>>>>>> REPLACE$", re.DOTALL | re.MULTILINE)


def rendered(name: str, mutation: str) -> tuple[str, str, str]:
    problem = load_problem(ROOT / "problems" / name)
    view = ProblemView(problem.name, problem.config.description, problem.language, PROMPTS)
    parent = ProgramView(1, problem.initial_code, 1.0, {"score": 1.0})
    _, user = build_messages(mutation, view, parent, [], None, error="it crashed")
    return problem.initial_code, user["content"], problem.language


@pytest.mark.parametrize("name", PROBLEMS)
@pytest.mark.parametrize("mutation", ["diff", "fix"])
def test_the_example_edit_quotes_lines_of_the_program_inside_a_block(name: str, mutation: str):
    code, text, _ = rendered(name, mutation)
    assert not any(p in text for p in PLACEHOLDERS)
    (example,) = _EXAMPLE.findall(text)
    search, replace = example
    assert code.count(search) == 1, search  # the SEARCH matches one place, as the task asks
    assert any(search in body for body in block_bodies(code))
    if replace != "(your new version of these lines)":  # the same lines, one number changed
        assert len(replace.splitlines()) == len(search.splitlines()) and replace != search
        assert re.sub(r"[\d.]+", "N", replace) == re.sub(r"[\d.]+", "N", search)


@pytest.mark.parametrize("name", PROBLEMS)
def test_the_example_copied_word_for_word_is_never_a_no_op(name: str):
    code, text, language = rendered(name, "diff")
    (example,) = _EXAMPLE.finditer(text)
    reading = read_answer(code, example.group(0), language)
    if reading.child is not None:  # a nudged number: a child that runs
        assert reading.child != code and reading.form == AnswerForm.SEARCH_REPLACE
    else:  # a placeholder REPLACE: rejected, and never as "changes nothing"
        assert reading.reason and "changes nothing" not in reading.reason


@pytest.mark.parametrize("mutation", ["diff", "full"])
def test_the_task_comes_first_and_is_repeated_after_the_context(mutation: str):
    _, text, _ = rendered("circle_packing", mutation)
    assert text.startswith("# Task\n")
    assert text.index("# Task") < text.index("# Current program") < text.index("# Your answer")


def test_lines_worth_quoting_are_statements_that_occur_once():
    code = '''x = 1
# EVOLVE-BLOCK-START
def f(a):
    """Docstring with 3 numbers
    over two lines 4."""
    # a comment 5
    x = 1
    y = a * 2.5
    z = y + 1
    return z
# EVOLVE-BLOCK-END
'''
    assert example_lines(code) == "    y = a * 2.5\n    z = y + 1"  # `x = 1` also occurs outside the block
    assert example_lines("# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n") is None
    assert example_lines("no blocks here\n") is None
    assert example_edit(code) == EditExample("    y = a * 2.5\n    z = y + 1", "    y = a * 3.0\n    z = y + 1")
    assert example_edit("# EVOLVE-BLOCK-START\nx = 0.0\n# EVOLVE-BLOCK-END\n") == EditExample("x = 0.0", "x = 0.1")
    assert example_edit("# EVOLVE-BLOCK-START\nreturn f(x)\n# EVOLVE-BLOCK-END\n") == EditExample("return f(x)", None)
