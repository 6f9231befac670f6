"""EVOLVE-BLOCK regions (evolve/edit/blocks.py): markers found and validated, frozen code compared,
bodies replaced."""

from __future__ import annotations

import pytest

from evolve.edit.blocks import BlockError, check_outside_unchanged, find_blocks, join, replace_bodies, split

from edit_helpers import SMALL, TWO_BLOCKS, apply_full_rewrite


def test_block_markers_are_validated():
    assert len(find_blocks(SMALL)) == 1
    with pytest.raises(BlockError, match="never closed"):
        find_blocks("# EVOLVE-BLOCK-START\nx = 1\n")
    with pytest.raises(BlockError, match="without a matching"):
        find_blocks("x = 1\n# EVOLVE-BLOCK-END\n")
    with pytest.raises(BlockError):
        check_outside_unchanged(SMALL, SMALL.replace("import math", "import os"))
    check_outside_unchanged(SMALL, SMALL.replace("x * 2.0", "x * 5.0"))


def test_a_docstring_that_mentions_the_markers_is_not_a_block():
    program = '"""Only the code between EVOLVE-BLOCK-START and\nEVOLVE-BLOCK-END lines changes."""\n' + SMALL
    assert len(find_blocks(program)) == 1
    child = apply_full_rewrite(program, "```python\ndef f(x):\n    return 3 * x\n```")
    assert "return 3 * x" in child and child.startswith('"""Only the code')


def test_split_and_join_give_the_code_back_and_bodies_are_replaced_in_order():
    outside, inside = split(TWO_BLOCKS)
    assert len(outside) == len(inside) + 1 == 3
    assert join(outside, inside) == TWO_BLOCKS
    replaced = replace_bodies(TWO_BLOCKS, ["A = 2.0", "def g(x):\n    return x\n"])
    assert split(replaced)[1] == ["A = 2.0\n", "def g(x):\n    return x\n"]
    check_outside_unchanged(TWO_BLOCKS, replaced)
    with pytest.raises(BlockError, match="expected 2 EVOLVE-BLOCK bodies, got 1"):
        replace_bodies(TWO_BLOCKS, ["A = 2.0\n"])


def test_a_frozen_change_is_named_by_its_line_in_the_parent():
    with pytest.raises(BlockError, match="frozen region 2\\): line 7 'def middle\\(\\):' became 'def centre\\(\\):'"):
        check_outside_unchanged(TWO_BLOCKS, TWO_BLOCKS.replace("def middle", "def centre"))
    with pytest.raises(BlockError, match="added or removed EVOLVE-BLOCK markers"):
        check_outside_unchanged(TWO_BLOCKS, SMALL)
