"""The salvage rules (evolve/edit/salvage.py): an answer off the format whose intent is clear
becomes the child it meant, recorded under its own form; a salvage never accepts a change of
code outside the blocks."""

from __future__ import annotations

from evolve.edit.blocks import split
from evolve.kinds import AnswerForm

from edit_helpers import PROGRAM, TWO_BLOCKS, child_of, read, rejection, sr

NEW_PRIORITY = '''def priority(job):
    """Deadlines first, then shorter jobs."""
    weight = 0.9
    if job.deadline:
        return job.length - weight * job.size - 10
    return job.length
'''
CHILD = PROGRAM.replace(split(PROGRAM)[1][0], NEW_PRIORITY)

# A block with two definitions: a rewrite of one must keep the other.
TWO_DEFS = """import math

# EVOLVE-BLOCK-START
def helper(x):
    return math.sqrt(x) + 1.0


def score(x):
    total = 0.0
    for i in range(3):
        total += helper(x + i)
    return total
# EVOLVE-BLOCK-END


def main():
    return score(4)
"""


def fenced(code: str) -> str:
    return f"Here is my idea.\n```python\n{code}```\n"


# ---- a whole program that changed only comments or docstrings outside the blocks ------------


def test_a_changed_docstring_outside_the_blocks_is_salvaged():
    written = CHILD.replace('"""Schedule jobs on machines."""', '"""Schedule jobs on machines, faster."""')
    assert child_of(fenced(written), AnswerForm.FULL_PROGRAM_SALVAGED) == CHILD  # the parent's docstring kept


def test_a_comment_added_before_a_frozen_return_is_salvaged():
    written = CHILD.replace("    return [heapq.heappop", "    # pop in priority order\n    return [heapq.heappop")
    assert child_of(fenced(written), AnswerForm.FULL_PROGRAM_SALVAGED) == CHILD


def test_a_marker_less_program_with_a_changed_docstring_and_comment_is_salvaged():
    written = CHILD.replace('"""Schedule jobs on machines."""', '"""Scheduler."""\n# tuned')
    written = "".join(line for line in written.splitlines(keepends=True) if "EVOLVE-BLOCK" not in line)
    assert child_of(fenced(written), AnswerForm.FULL_PROGRAM_SALVAGED) == CHILD


def test_a_changed_frozen_statement_is_never_salvaged():
    written = CHILD.replace('"""Schedule jobs on machines."""', '"""Scheduler."""').replace(
        "MACHINES = 4", "MACHINES = 8"
    )
    form, reason = rejection(fenced(written))
    assert form == AnswerForm.FULL_PROGRAM and "'MACHINES = 4' became 'MACHINES = 8'" in reason  # not the docstring
    bare = "".join(line for line in written.splitlines(keepends=True) if "EVOLVE-BLOCK" not in line)
    form, reason = rejection(fenced(bare))
    assert form == AnswerForm.FULL_PROGRAM and "'MACHINES = 4' is missing or changed" in reason


def test_a_changed_frozen_string_that_is_no_docstring_is_never_salvaged():
    parent = PROGRAM.replace("MACHINES = 4", 'MACHINES = 4\nNAME = "jobs"')
    written = CHILD.replace("MACHINES = 4", 'MACHINES = 4\nNAME = "tasks"')
    form, reason = rejection(fenced(written), parent)
    assert form == AnswerForm.FULL_PROGRAM and "NAME" in reason


def test_only_a_docstring_changed_is_no_child():
    written = PROGRAM.replace('"""Schedule jobs on machines."""', '"""Scheduler."""')
    form, reason = rejection(fenced(written))
    assert form == AnswerForm.FULL_PROGRAM and "changes nothing" in reason


# ---- loose definitions placed in the one block that holds them -------------------------------


def test_a_constant_goes_to_the_block_that_defines_it():
    assert child_of(fenced("A = 3.0\n"), AnswerForm.LOOSE_CODE_PLACED, TWO_BLOCKS) == TWO_BLOCKS.replace(
        "A = 1.0", "A = 3.0"
    )


def test_a_function_goes_to_its_block_with_a_new_helper():
    code = "def scale(x):\n    return 2 * x\n\n\ndef g(x):\n    return scale(A * x)\n"
    child = child_of(fenced(code), AnswerForm.LOOSE_CODE_PLACED, TWO_BLOCKS)
    assert child == TWO_BLOCKS.replace("def g(x):\n    return A * x\n", code)


def test_a_rewrite_of_one_definition_keeps_the_others_of_its_block():
    code = "def score(x):\n    return sum(helper(x + i) for i in range(5))\n"
    child = child_of(fenced(code), AnswerForm.LOOSE_CODE_PLACED, TWO_DEFS)
    assert "def helper(x):\n    return math.sqrt(x) + 1.0\n" in child and code in child
    assert "total = 0.0" not in child


def test_a_rewrite_of_the_whole_single_block_stays_a_block_body():
    code = NEW_PRIORITY
    assert child_of(fenced(code), AnswerForm.BLOCK_BODY) == CHILD


def test_loose_code_that_redefines_frozen_code_is_not_placed():
    form, reason = rejection(fenced("def middle():\n    return 2.0\n\n\nA = 2.0\n"), TWO_BLOCKS)
    assert form == AnswerForm.BLOCK_BODY and "2 blocks" in reason


def test_loose_code_spanning_two_blocks_is_not_placed():
    form, reason = rejection(fenced("A = 2.0\n\n\ndef g(x):\n    return x\n"), TWO_BLOCKS)
    assert form == AnswerForm.BLOCK_BODY and "2 blocks" in reason


def test_loose_code_with_statements_is_not_placed():
    form, _ = rejection(fenced("A = 2.0\nprint(A)\n"), TWO_BLOCKS)
    assert form == AnswerForm.BLOCK_BODY


# ---- a SEARCH that matched nothing above a complete new version ------------------------------


def test_a_placeholder_search_above_a_whole_block_rewrite_is_placed():
    answer = "Weigh deadlines more.\n" + sr("code to find", NEW_PRIORITY.rstrip("\n"))
    assert child_of(answer, AnswerForm.SEARCH_MISS_PLACED) == CHILD


def test_a_search_with_a_typo_quoting_one_definition_is_placed():
    search = "def score(x):\n    total = 0\n    for i in range(3):\n        total += helper(x + i)\n    return total"
    replace = "def score(x):\n    total = 0.0\n    for i in range(6):\n        total += helper(x + i)\n    return total"
    child = child_of(sr(search, replace), AnswerForm.SEARCH_MISS_PLACED, TWO_DEFS)
    assert child == TWO_DEFS.replace("range(3)", "range(6)")


def test_a_placeholder_search_above_one_of_two_definitions_asks_for_the_exact_lines():
    replace = "def score(x):\n    return sum(helper(x + i) for i in range(5))"
    reading = read(sr("code to find", replace), TWO_DEFS)
    assert reading.child is None and reading.form == AnswerForm.SEARCH_REPLACE
    assert "'code to find' is not in the program" in (reading.reason or "")
    assert reading.lines_to_copy is not None and reading.lines_to_copy in TWO_DEFS
    assert reading.lines_to_copy.startswith("def score(x):") and reading.lines_to_copy.endswith("return total\n")


def test_a_stub_replace_is_not_placed():
    reading = read(sr("code to find", "def priority(job):\n    return 0"))
    assert reading.child is None and "matches nothing" in (reading.reason or "")


def test_a_replace_of_frozen_code_is_not_placed():
    replace = "def schedule(jobs):\n    return sorted(jobs, key=priority)\n"
    reading = read(sr("def schedule(jobs):\n    return jobs", replace))
    assert reading.child is None and "matches nothing" in (reading.reason or "")
    assert reading.lines_to_copy is None


def test_salvage_forms_are_marked_salvaged():
    salvaged = {form for form in AnswerForm if form.salvaged}
    assert salvaged == {
        AnswerForm.FULL_PROGRAM_SALVAGED,
        AnswerForm.LOOSE_CODE_PLACED,
        AnswerForm.SEARCH_MISS_PLACED,
        AnswerForm.FULL_PROGRAM_ANCHORED,
    }


def test_bare_definitions_go_to_their_block_of_several():
    answer = "def g(x):\n    return 3 * A * x\n"
    assert child_of(answer, AnswerForm.LOOSE_CODE_PLACED, TWO_BLOCKS) == TWO_BLOCKS.replace(
        "return A * x", "return 3 * A * x"
    )
    assert rejection("print(A)\n", TWO_BLOCKS)[0] == AnswerForm.NONE  # statements that belong nowhere
