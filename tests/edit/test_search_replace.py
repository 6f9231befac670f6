"""SEARCH/REPLACE edits (evolve/edit/search_replace.py): found in an answer in any dress, applied
by their text (verbatim, then ignoring indentation, then blank lines), every failure named. Read
through the door, `read_answer`, as the mutator reads them."""

from __future__ import annotations

import pytest

from evolve.edit.search_replace import parse_search_replace
from evolve.kinds import AnswerForm

from edit_helpers import CHILD, CHILD_TWO, EDIT, PROGRAM, SMALL, child_of, rejection, sr


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


def test_exact_search_replace():
    child = child_of("idea\n" + sr("    y = x * 2.0", "    y = x * 3.0"), AnswerForm.SEARCH_REPLACE, SMALL)
    assert "x * 3.0" in child and "x * 2.0" not in child


def test_several_blocks_apply_in_order():
    answer = sr("    y = x * 2.0", "    y = x * 3.0") + sr("    return y + 1", "    return y + 2")
    child = child_of(answer, AnswerForm.SEARCH_REPLACE, SMALL)
    assert "x * 3.0" in child and "y + 2" in child


def test_whitespace_tolerant_match_keeps_indentation():
    child = child_of(sr("y = x * 2.0   ", "y = x * 4.0\nz = 1"), AnswerForm.SEARCH_REPLACE, SMALL)
    assert "    y = x * 4.0\n    z = 1\n" in child


def test_windows_line_endings_in_the_answer():
    answer = sr("    y = x * 2.0", "    y = x * 3.0").replace("\n", "\r\n")
    assert "x * 3.0" in child_of(answer, AnswerForm.SEARCH_REPLACE, SMALL)


def test_parse_accepts_longer_markers():
    edits = parse_search_replace("<<<<<<<< SEARCH\na\n========\nb\n>>>>>>>> REPLACE")
    assert [(e.search, e.replace) for e in edits] == [("a\n", "b\n")]


LOOP = """# EVOLVE-BLOCK-START
def total(xs):
    s = 0
    beta_max = 1
    for x in xs:
        s += x
    return s
# EVOLVE-BLOCK-END
"""


def test_unindented_search_lands_on_the_whole_line_and_is_reindented():
    child = child_of(sr("s += x", "s += x\ns *= 2"), AnswerForm.SEARCH_REPLACE, LOOP)
    assert "        s += x\n        s *= 2\n    return s" in child


def test_a_search_inside_a_longer_line_does_not_match_there():
    assert "matches nothing" in rejection(sr("max = 1", "max = 9"), LOOP)[1]
    assert "beta_max = 9" in child_of(sr("    beta_max = 1", "    beta_max = 9"), AnswerForm.SEARCH_REPLACE, LOOP)


# ---- wrong edits and their exact reasons --------------------------------------------------------


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


def test_search_that_matches_nothing_is_rejected():
    assert rejection(sr("    y = x * 9.0", "    y = 0"), SMALL) == (
        AnswerForm.SEARCH_REPLACE,
        "SEARCH block 1 matches nothing in the program: its line 1 'y = x * 9.0' is not in the program "
        "(closest: line 5 'y = x * 2.0')",
    )


def test_search_that_matches_twice_is_rejected():
    program = SMALL.replace("    return y + 1", "    y = x * 2.0\n    return y + 1")
    assert "matches 2 places" in rejection(sr("    y = x * 2.0", "    y = 1"), program)[1]


def test_removing_a_marker_is_rejected():
    assert rejection(sr("# EVOLVE-BLOCK-END", ""), SMALL) == (
        AnswerForm.SEARCH_REPLACE,
        "SEARCH block 1 finds only an EVOLVE-BLOCK marker line and its REPLACE drops it; the markers may not be edited",
    )
