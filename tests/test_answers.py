"""The one answer reader: every form a model's answer takes becomes the expected child, and every
wrong answer gets the reason that names what failed (evolve/mutate/answers.py, pure)."""

from __future__ import annotations

import difflib

import pytest

from evolve.kinds import AnswerForm
from evolve.mutate.answers import NO_EDIT, read_answer, strip_reasoning

PROGRAM = '''"""Schedule jobs on machines."""

import heapq

MACHINES = 4


# EVOLVE-BLOCK-START
def priority(job):
    """Shorter jobs first, heavier ones a little earlier."""
    weight = 0.5
    if job.deadline:
        return job.length - weight * job.size
    return job.length
# EVOLVE-BLOCK-END


def schedule(jobs):
    heap = [(priority(j), i, j) for i, j in enumerate(jobs)]
    heapq.heapify(heap)
    return [heapq.heappop(heap)[2] for _ in jobs]
'''

CHILD = PROGRAM.replace("weight = 0.5", "weight = 0.75")
CHILD_TWO = CHILD.replace("return job.length\n# EVOLVE", "return job.length * 1.1\n# EVOLVE")


def sr(search: str, replace: str, marks: int = 7) -> str:
    return f"{'<' * marks} SEARCH\n{search}\n{'=' * marks}\n{replace}\n{'>' * marks} REPLACE\n"


EDIT = sr("    weight = 0.5", "    weight = 0.75")


def read(answer: str, program: str = PROGRAM, language: str = "python"):
    return read_answer(program, answer, language)


def child_of(answer: str, form: AnswerForm, program: str = PROGRAM, language: str = "python") -> str:
    reading = read(answer, program, language)
    assert reading.reason is None and reading.form == form, reading
    assert reading.child is not None
    return reading.child


def rejection(answer: str, program: str = PROGRAM, language: str = "python") -> tuple[AnswerForm, str]:
    reading = read(answer, program, language)
    assert reading.child is None and reading.reason
    return reading.form, reading.reason


# ---- SEARCH/REPLACE ---------------------------------------------------------------------------


def test_search_replace_bare_after_prose():
    answer = "Weighting size more should help jobs with deadlines.\n\n" + EDIT
    assert child_of(answer, AnswerForm.SEARCH_REPLACE) == CHILD


@pytest.mark.parametrize(
    "opening,closing", [("```python", "```"), ("```diff", "```"), ("~~~", "~~~"), ("````", "````")]
)
def test_search_replace_inside_any_fence(opening, closing):
    answer = f"Here is the edit:\n\n{opening}\n{EDIT}{closing}\n"
    assert child_of(answer, AnswerForm.SEARCH_REPLACE) == CHILD


@pytest.mark.parametrize("marks", [5, 6, 8, 9])
def test_search_replace_with_five_to_nine_marker_characters(marks):
    assert child_of(sr("    weight = 0.5", "    weight = 0.75", marks), AnswerForm.SEARCH_REPLACE) == CHILD


def test_search_and_replace_parts_each_in_a_fence_of_their_own():
    answer = "<<<<<<< SEARCH\n```python\n    weight = 0.5\n```\n=======\n```python\n    weight = 0.75\n```\n>>>>>>> REPLACE\n"
    assert child_of(answer, AnswerForm.SEARCH_REPLACE) == CHILD


def test_several_blocks_with_headings_and_prose_between():
    answer = (
        "## 1. A heavier size weight\n\nJobs with deadlines should go earlier.\n\n```python\n"
        + EDIT
        + "```\n\n## 2. Long jobs without deadlines\n\nPenalise them a little:\n\n```python\n"
        + sr("    return job.length\n# EVOLVE-BLOCK-END", "    return job.length * 1.1\n# EVOLVE-BLOCK-END")
        + "```\nBoth edits keep the interface."
    )
    assert child_of(answer, AnswerForm.SEARCH_REPLACE) == CHILD_TWO


def test_windows_line_endings_and_trailing_spaces():
    answer = ("Edit:  \n" + sr("    weight = 0.5   ", "    weight = 0.75  ")).replace("\n", "\r\n")
    assert child_of(answer, AnswerForm.SEARCH_REPLACE) == CHILD


def test_a_dedented_search_is_found_and_its_replacement_reindented():
    search = "if job.deadline:\n    return job.length - weight * job.size"
    replace = "if job.deadline:\n    slack = job.deadline - job.length\n    return slack - weight * job.size"
    expected = PROGRAM.replace(
        "        return job.length - weight * job.size",
        "        slack = job.deadline - job.length\n        return slack - weight * job.size",
    )
    assert child_of(sr(search, replace), AnswerForm.SEARCH_REPLACE) == expected


def test_a_search_that_dropped_a_blank_line_still_matches():
    program = PROGRAM.replace("    weight = 0.5\n", "    weight = 0.5\n\n")
    answer = sr("    weight = 0.5\n    if job.deadline:", "    weight = 0.75\n    if job.deadline:")
    assert child_of(answer, AnswerForm.SEARCH_REPLACE, program) == program.replace("0.5\n\n", "0.75\n")


def test_a_search_that_includes_the_marker_line():
    dropped = sr("# EVOLVE-BLOCK-START\ndef priority(job):", "def priority(job, scale=1.0):")
    expected = PROGRAM.replace("def priority(job):", "def priority(job, scale=1.0):")
    assert child_of(dropped, AnswerForm.SEARCH_REPLACE) == expected
    kept = sr("# EVOLVE-BLOCK-START\ndef priority(job):", "# EVOLVE-BLOCK-START\ndef priority(job, scale=1.0):")
    assert child_of(kept, AnswerForm.SEARCH_REPLACE) == expected
    inserted = sr("# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-START\nSCALE = 2")
    assert child_of(inserted, AnswerForm.SEARCH_REPLACE) == PROGRAM.replace(
        "# EVOLVE-BLOCK-START\n", "# EVOLVE-BLOCK-START\nSCALE = 2\n"
    )


def test_search_replace_answering_a_rewrite_prompt_is_read_as_an_edit():
    # The old reader took this for code ("the child is not valid Python: line 9").
    answer = "I'll make one focused change instead of rewriting:\n\n```python\n" + EDIT + "```\n"
    assert child_of(answer, AnswerForm.SEARCH_REPLACE) == CHILD


# ---- unified diffs ------------------------------------------------------------------------------


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


# ---- whole programs and block bodies ---------------------------------------------------------------


def test_whole_program_fenced_or_bare():
    assert child_of(f"Improved:\n```python\n{CHILD}```", AnswerForm.FULL_PROGRAM) == CHILD
    assert child_of(f"Here is the new program.\n\n{CHILD}\nIt weights size more.", AnswerForm.FULL_PROGRAM) == CHILD


def test_whole_program_without_its_marker_comments():
    dropped = "".join(line for line in CHILD.splitlines(True) if "EVOLVE-BLOCK" not in line)
    assert child_of(f"```python\n{dropped}```", AnswerForm.FULL_PROGRAM) == CHILD
    assert child_of(dropped, AnswerForm.FULL_PROGRAM) == CHILD  # bare, too


def test_whole_program_keeps_the_parents_frozen_text_exactly():
    sloppy = CHILD.replace("MACHINES = 4", "MACHINES = 4   ").replace("\n\n\ndef schedule", "\n\ndef schedule")
    assert child_of(f"```python\n{sloppy}```", AnswerForm.FULL_PROGRAM) == CHILD


TWO_BLOCKS = """import math

# EVOLVE-BLOCK-START
A = 1.0
# EVOLVE-BLOCK-END

def middle():
    return math.sqrt(2)

# EVOLVE-BLOCK-START
def g(x):
    return A * x
# EVOLVE-BLOCK-END

print(g(middle()))
"""


def test_a_two_block_program_without_markers_is_cut_at_its_frozen_code():
    child = TWO_BLOCKS.replace("A = 1.0", "A = 2.0").replace("return A * x", "return A * x + 1")
    dropped = "".join(line for line in child.splitlines(True) if "EVOLVE-BLOCK" not in line)
    assert child_of(f"```python\n{dropped}```", AnswerForm.FULL_PROGRAM, TWO_BLOCKS) == child


def test_the_body_of_the_block_alone():
    body = "def priority(job):\n    return job.length / (1 + job.size)\n"
    expected = PROGRAM.replace(PROGRAM.split("# EVOLVE-BLOCK-START\n")[1].split("# EVOLVE-BLOCK-END")[0], body)
    assert child_of(f"The new block:\n```python\n{body}```", AnswerForm.BLOCK_BODY) == expected
    with_markers = f"```python\n# EVOLVE-BLOCK-START\n{body}# EVOLVE-BLOCK-END\n```"
    assert child_of(with_markers, AnswerForm.BLOCK_BODY) == expected
    assert child_of(body, AnswerForm.BLOCK_BODY) == expected  # bare Python statements


# ---- reasoning and prose ----------------------------------------------------------------------------


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


# ---- wrong answers and their exact reasons ---------------------------------------------------------


def test_a_search_that_matches_nothing_names_its_line_and_the_closest_one():
    assert rejection(sr("    weight = 0.25\n    if job.deadline:", "    weight = 1")) == (
        AnswerForm.SEARCH_REPLACE,
        "SEARCH block 1 matches nothing in the program: its line 1 'weight = 0.25' is not in the program "
        "(closest: line 11 'weight = 0.5')",
    )


def test_a_search_whose_lines_are_there_but_not_together():
    assert rejection(sr("    weight = 0.5\n    return job.length", "    pass")) == (
        AnswerForm.SEARCH_REPLACE,
        "SEARCH block 1 matches nothing in the program: each of its lines is in the program, but not in this "
        "order (the run breaks at 'return job.length')",
    )


def test_a_search_that_matches_twice_names_both_places():
    program = PROGRAM.replace("    return job.length\n", "    weight = 0.5\n    return job.length\n")
    assert rejection(sr("    weight = 0.5", "    weight = 1.0"), program) == (
        AnswerForm.SEARCH_REPLACE,
        "SEARCH block 1 matches 2 places (lines 11, 14); include more context to make it unique",
    )


def test_the_second_of_two_blocks_failing_is_named():
    form, reason = rejection(EDIT + sr("    return job.size", "    return 0"))
    assert form == AnswerForm.SEARCH_REPLACE and reason.startswith("SEARCH block 2 matches nothing")


def test_an_edit_of_frozen_code_names_the_line():
    assert rejection(sr("MACHINES = 4", "MACHINES = 8")) == (
        AnswerForm.SEARCH_REPLACE,
        "the edit changes code outside the EVOLVE-BLOCKs (frozen region 1): line 5 'MACHINES = 4' became 'MACHINES = 8'",
    )


def test_a_whole_program_that_changes_frozen_code_names_the_line():
    changed = CHILD.replace("    heapq.heapify(heap)\n", "")
    assert rejection(f"```python\n{changed}```") == (
        AnswerForm.FULL_PROGRAM,
        "the program in the answer changes code outside the EVOLVE-BLOCKs (frozen region 2): "
        "line 20 '    heapq.heapify(heap)' was removed",
    )
    dropped = "".join(line for line in changed.splitlines(True) if "EVOLVE-BLOCK" not in line)
    assert rejection(f"```python\n{dropped}```") == (
        AnswerForm.FULL_PROGRAM,
        "the program in the answer has no EVOLVE-BLOCK markers and changes code outside them: "
        "line 20 'heapq.heapify(heap)' is missing or changed",
    )


def test_a_body_alone_for_a_program_with_two_blocks():
    assert rejection("```python\nA = 3.0\n```", TWO_BLOCKS) == (
        AnswerForm.BLOCK_BODY,
        "the code in the answer has no EVOLVE-BLOCK markers and the program has 2 blocks: answer with "
        "SEARCH/REPLACE edits, or the whole program with its markers",
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


def test_a_hunk_that_matches_nothing():
    answer = "```diff\n@@ -11,1 +11,1 @@\n-    weight = 0.3\n+    weight = 0.75\n```"
    assert rejection(answer) == (
        AnswerForm.UNIFIED_DIFF,
        "hunk 1 matches nothing in the program: its line 1 'weight = 0.3' is not in the program "
        "(closest: line 11 'weight = 0.5')",
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
