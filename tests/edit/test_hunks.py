"""Unified diffs (evolve/edit/hunks.py): fenced or bare, with or without headers, placed by their
context when the line numbers are wrong. Read through the door, `read_answer`."""

from __future__ import annotations

import difflib

from evolve.kinds import AnswerForm

from edit_helpers import CHILD, CHILD_TWO, PROGRAM, child_of, rejection


def udiff(parent: str, child: str, n: int = 3) -> str:
    return "".join(difflib.unified_diff(parent.splitlines(True), child.splitlines(True), "a/prog.py", "b/prog.py", n=n))


def test_unified_diff_fenced_and_bare():
    assert child_of(f"```diff\n{udiff(PROGRAM, CHILD)}```\n", AnswerForm.UNIFIED_DIFF) == CHILD
    assert child_of(f"The patch:\n\n{udiff(PROGRAM, CHILD_TWO)}\nDone.\n", AnswerForm.UNIFIED_DIFF) == CHILD_TWO


def test_a_bare_diff_followed_by_a_list_of_points():
    answer = f"{udiff(PROGRAM, CHILD)}\nWhy:\n- heavier jobs go first\n- deadlines matter more\n"
    assert child_of(answer, AnswerForm.UNIFIED_DIFF) == CHILD
    right_after = f"{udiff(PROGRAM, CHILD)}\n- heavier jobs go first\n"  # its header's counts end the hunk
    assert child_of(right_after, AnswerForm.UNIFIED_DIFF) == CHILD


def test_unified_diff_with_wrong_line_numbers_and_reindented_context():
    diff = udiff(PROGRAM, CHILD).replace("@@ -8,", "@@ -30,")
    sloppy = diff.replace('     """Shorter jobs', ' \t"""Shorter jobs')  # context with other whitespace
    assert child_of(f"```diff\n{sloppy}```", AnswerForm.UNIFIED_DIFF) == CHILD


def test_unified_diff_several_hunks_and_a_pure_insertion():
    child = CHILD.replace("import heapq\n", "import heapq\nimport math\n", 0)  # frozen code stays
    child = child.replace("    weight = 0.75\n", "    weight = 0.75\n    bias = math.pi\n")
    assert child_of(f"```diff\n{udiff(PROGRAM, child, n=0)}```", AnswerForm.UNIFIED_DIFF) == child


def test_a_diff_fence_with_bare_minus_plus_lines():
    answer = "```diff\n     weight = 0.5\n-    if job.deadline:\n+    if job.deadline is not None:\n```"
    assert child_of(answer, AnswerForm.UNIFIED_DIFF) == PROGRAM.replace(
        "if job.deadline:", "if job.deadline is not None:"
    )


def test_a_context_line_without_its_leading_space_inside_a_fence():
    answer = '```diff\n@@ -10,2 +10,2 @@\n    """Shorter jobs first, heavier ones a little earlier."""\n-    weight = 0.5\n+    weight = 0.75\n```'
    assert child_of(answer, AnswerForm.UNIFIED_DIFF) == CHILD


def test_a_hunk_that_matches_nothing():
    answer = "```diff\n@@ -11,1 +11,1 @@\n-    weight = 0.3\n+    weight = 0.75\n```"
    assert rejection(answer) == (
        AnswerForm.UNIFIED_DIFF,
        "hunk 1 matches nothing in the program: its line 1 'weight = 0.3' is not in the program "
        "(closest: line 11 'weight = 0.5')",
    )
