"""The checks every child passes (evolve/edit/child.py): frozen code kept, not a no-op, parses
(Python), named reasons; two programs that differ only in comments and layout are one."""

from __future__ import annotations

import pytest

from evolve.edit import EditRejected
from evolve.edit.child import check_child, unified_diff
from evolve.edit.search_replace import apply_search_replace, parse_search_replace
from evolve.kinds import AnswerForm

from edit_helpers import PROGRAM, SMALL, rejection, sr


def edited(program: str, answer: str) -> str:
    """The answer's SEARCH/REPLACE edits applied, before any check: a child to check by hand."""
    return apply_search_replace(program, parse_search_replace(answer))


def test_an_edit_of_frozen_code_names_the_line():
    assert rejection(sr("MACHINES = 4", "MACHINES = 8")) == (
        AnswerForm.SEARCH_REPLACE,
        "the edit changes code outside the EVOLVE-BLOCKs (frozen region 1): line 5 'MACHINES = 4' became 'MACHINES = 8'",
    )


def test_a_child_that_does_not_parse_is_named_with_its_line():
    assert rejection(sr("    weight = 0.5", "    weight = (0.75")) == (
        AnswerForm.SEARCH_REPLACE,
        "the child is not valid Python: line 11: '(' was never closed ('weight = (0.75')",
    )


def test_no_ops():
    assert rejection(sr("    weight = 0.5", "    weight = 0.5")) == (
        AnswerForm.SEARCH_REPLACE,
        "the edit changes nothing (the child is identical to its parent)",
    )
    assert rejection(sr("    weight = 0.5", "    weight = 0.5  # tuned")) == (
        AnswerForm.SEARCH_REPLACE,
        "the edit changes only comments or formatting, not the program",
    )
    assert rejection(f"```python\n{PROGRAM}```")[1] == "the edit changes nothing (the child is identical to its parent)"


def test_edit_outside_the_blocks_is_rejected():
    assert rejection(sr("    return f(3)", "    return 1e9"), SMALL) == (
        AnswerForm.SEARCH_REPLACE,
        "the edit changes code outside the EVOLVE-BLOCKs (frozen region 2): line 10 '    return f(3)' became '    return 1e9'",
    )


def test_no_op_edit_is_rejected():
    assert "changes nothing" in rejection(sr("    y = x * 2.0", "    y = x * 2.0"), SMALL)[1]


def test_python_child_that_does_not_parse_is_rejected_before_any_sandbox():
    child = edited(SMALL, sr("    y = x * 2.0", "    y = (x * 2.0"))
    with pytest.raises(EditRejected, match="not valid Python: line"):
        check_child(SMALL, child, "python")
    check_child(SMALL, child, "c")  # other languages are left to their evaluator


def test_comment_or_layout_only_edit_is_rejected_and_hashes_alike():
    from evolve.engine.population_values import code_hash

    cosmetic = edited(SMALL, sr("    y = x * 2.0", "    # double it\n    y = x*2.0"))
    with pytest.raises(EditRejected, match="only comments or formatting"):
        check_child(SMALL, cosmetic, "python")
    assert code_hash(cosmetic, "python") == code_hash(SMALL, "python")
    real = edited(SMALL, sr("    y = x * 2.0", "    y = x * 2.5"))
    check_child(SMALL, real, "python")
    assert code_hash(real, "python") != code_hash(SMALL, "python")
    assert code_hash(cosmetic, "text") != code_hash(SMALL, "text")  # only Python is parsed


def test_the_diff_shown_is_parent_to_child():
    child = SMALL.replace("x * 2.0", "x * 2.5")
    diff = unified_diff(SMALL, child)
    assert diff.startswith("--- parent\n+++ child\n")
    assert "-    y = x * 2.0\n+    y = x * 2.5\n" in diff
    assert unified_diff(SMALL, SMALL) == ""
