"""Code read as the whole program or as the block bodies (evolve/edit/programs.py): with or
without its markers, the child keeping the parent's own frozen text; a change to frozen code is
named by its line. Read through the door, `read_answer`."""

from __future__ import annotations

import pytest

from evolve.edit import EditRejected
from evolve.edit.blocks import block_bodies
from evolve.kinds import AnswerForm

from edit_helpers import CHILD, PROGRAM, SMALL, TWO_BLOCKS, apply_full_rewrite, child_of, rejection


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


def test_a_whole_program_that_changes_frozen_code_names_the_line():
    # Changed by issue 23: with its anchors intact (the frozen lines around the block), such an
    # answer is read by them (tests/edit/test_anchors.py); here the after-anchor changed too.
    changed = CHILD.replace("    heapq.heapify(heap)\n", "").replace(
        "def schedule(jobs):", "def schedule(jobs, n=MACHINES):"
    )
    assert rejection(f"```python\n{changed}```") == (
        AnswerForm.FULL_PROGRAM,
        "the program in the answer changes code outside the EVOLVE-BLOCKs (frozen region 2): "
        "line 18 'def schedule(jobs):' became 'def schedule(jobs, n=MACHINES):'",
    )
    dropped = "".join(line for line in changed.splitlines(True) if "EVOLVE-BLOCK" not in line)
    assert rejection(f"```python\n{dropped}```") == (
        AnswerForm.FULL_PROGRAM,
        "the program in the answer has no EVOLVE-BLOCK markers and changes code outside them: "
        "line 18 'def schedule(jobs):' is missing or changed",
    )


def test_a_body_alone_for_a_program_with_two_blocks():
    # Code that redefines nothing of either block cannot be placed (`A = 3.0` can: tests/edit/test_salvage.py).
    assert rejection("```python\nB = 3.0\nprint(B)\n```", TWO_BLOCKS) == (
        AnswerForm.BLOCK_BODY,
        "the code in the answer has no EVOLVE-BLOCK markers and the program has 2 blocks: answer with "
        "SEARCH/REPLACE edits, or the whole program with its markers",
    )


def test_full_rewrite_of_whole_file():
    new = SMALL.replace("x * 2.0", "x ** 2")
    child = apply_full_rewrite(SMALL, f"Better:\n```python\n{new}```")
    assert child == new


def test_full_rewrite_of_block_body_only():
    child = apply_full_rewrite(SMALL, "```python\ndef f(x):\n    return x\n```")
    assert block_bodies(child) == ["def f(x):\n    return x\n"]
    assert child.endswith("def g():\n    return f(3)\n")


def test_full_rewrite_that_changes_frozen_code_is_rejected():
    new = SMALL.replace("return f(3)", "return 42")  # no block change: nothing for the anchor salvage
    with pytest.raises(EditRejected, match="outside"):
        apply_full_rewrite(SMALL, f"```python\n{new}```")


def test_a_whole_program_without_its_markers_is_read_around_its_frozen_code():
    # Changed by issue 10: a program whose marker comments the model dropped used to be rejected.
    whole = SMALL.replace("# EVOLVE-BLOCK-START\n", "").replace("# EVOLVE-BLOCK-END\n", "")
    assert apply_full_rewrite(SMALL, f"```python\n{whole.replace('2.0', '3.0')}```") == SMALL.replace("2.0", "3.0")
    with pytest.raises(EditRejected, match="line 10 'return f\\(3\\)' is missing or changed"):
        apply_full_rewrite(SMALL, f"```python\n{whole.replace('f(3)', 'f(4)')}```")  # no block change to salvage


def test_a_block_body_may_repeat_an_import():
    program = "import numpy as np\n" + SMALL
    child = apply_full_rewrite(program, "```python\nimport numpy as np\ndef f(x):\n    return np.sqrt(x)\n```")
    assert "return np.sqrt(x)" in child


def test_windows_line_endings_in_a_whole_program():
    rewrite = "```python\r\n" + SMALL.replace("x * 2.0", "x * 7.0").replace("\n", "\r\n") + "```"
    assert "x * 7.0" in apply_full_rewrite(SMALL, rewrite)
