"""Markdown code fences in an answer (evolve/edit/fences.py): a fence closes only at a line of its
own character at least as long, so code holding a shorter fence survives; an unclosed one runs
to the end."""

from __future__ import annotations

from evolve.edit.fences import find_fences, outside_fences

from edit_helpers import SMALL, apply_full_rewrite


def test_code_with_backtick_fences_inside_survives_prompt_and_rewrite():
    from evolve.mutate.prompt import fence

    program = SMALL.replace("def f(x):", 'def f(x):\n    """Example:\n    ```\n    f(1)\n    ```\n    """')
    outer = fence(program)
    assert outer == "````"
    answer = f"New version:\n{outer}python\n{program.replace('x * 2.0', 'x * 4.0')}{outer}\n"
    child = apply_full_rewrite(program, answer)
    assert "x * 4.0" in child and "```\n    f(1)" in child


def test_fences_close_at_their_own_length_and_an_unclosed_one_runs_to_the_end():
    text = "Prose.\n````python\nx = 1\n```\ny = 2\n````\nMore prose.\n~~~\ncut off"
    fences = find_fences(text)
    assert [(f.info, f.body, f.start, f.end) for f in fences] == [
        ("python", "x = 1\n```\ny = 2\n", 1, 5),
        ("", "cut off\n", 7, 9),
    ]
    assert outside_fences(text) == "Prose.\nMore prose.\n"
