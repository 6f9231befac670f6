import pytest

from evolve.blocks import BlockError, block_bodies, check_outside_unchanged, find_blocks
from evolve.diff import EditRejected, apply_diff, parse_search_replace
from evolve.kinds import AnswerForm
from evolve.mutate.answers import read_answer

PROGRAM = """import math

# EVOLVE-BLOCK-START
def f(x):
    y = x * 2.0
    return y + 1
# EVOLVE-BLOCK-END

def g():
    return f(3)
"""


def apply_full_rewrite(parent, answer, language="python"):
    """An answer to a rewrite prompt, read by the one answer reader (which accepts any form)."""
    reading = read_answer(parent, answer, language)
    if not reading.ok:
        raise EditRejected(reading.reason)
    assert reading.form in (AnswerForm.FULL_PROGRAM, AnswerForm.BLOCK_BODY)
    return reading.child


def sr(search, replace):
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_exact_search_replace():
    child = apply_diff(PROGRAM, "idea\n" + sr("    y = x * 2.0", "    y = x * 3.0"))
    assert "x * 3.0" in child and "x * 2.0" not in child


def test_several_blocks_apply_in_order():
    answer = sr("    y = x * 2.0", "    y = x * 3.0") + sr("    return y + 1", "    return y + 2")
    child = apply_diff(PROGRAM, answer)
    assert "x * 3.0" in child and "y + 2" in child


def test_whitespace_tolerant_match_keeps_indentation():
    child = apply_diff(PROGRAM, sr("y = x * 2.0   ", "y = x * 4.0\nz = 1"))
    assert "    y = x * 4.0\n    z = 1\n" in child


def test_search_that_matches_nothing_is_rejected():
    with pytest.raises(EditRejected, match="matches nothing"):
        apply_diff(PROGRAM, sr("    y = x * 9.0", "    y = 0"))


def test_search_that_matches_twice_is_rejected():
    program = PROGRAM.replace("    return y + 1", "    y = x * 2.0\n    return y + 1")
    with pytest.raises(EditRejected, match="matches 2 places"):
        apply_diff(program, sr("    y = x * 2.0", "    y = 1"))


def test_edit_outside_the_blocks_is_rejected():
    with pytest.raises(EditRejected, match="outside the EVOLVE-BLOCKs"):
        apply_diff(PROGRAM, sr("    return f(3)", "    return 1e9"))


def test_removing_a_marker_is_rejected():
    with pytest.raises(EditRejected, match="marker"):
        apply_diff(PROGRAM, sr("# EVOLVE-BLOCK-END", ""))


def test_prose_without_blocks_is_rejected():
    with pytest.raises(EditRejected, match="no SEARCH/REPLACE block"):
        apply_diff(PROGRAM, "You could try harder.")


def test_no_op_edit_is_rejected():
    with pytest.raises(EditRejected, match="changes nothing"):
        apply_diff(PROGRAM, sr("    y = x * 2.0", "    y = x * 2.0"))


def test_parse_accepts_longer_markers():
    edits = parse_search_replace("<<<<<<<< SEARCH\na\n========\nb\n>>>>>>>> REPLACE")
    assert [(e.search, e.replace) for e in edits] == [("a\n", "b\n")]


def test_full_rewrite_of_whole_file():
    new = PROGRAM.replace("x * 2.0", "x ** 2")
    child = apply_full_rewrite(PROGRAM, f"Better:\n```python\n{new}```")
    assert child == new


def test_full_rewrite_of_block_body_only():
    child = apply_full_rewrite(PROGRAM, "```python\ndef f(x):\n    return x\n```")
    assert block_bodies(child) == ["def f(x):\n    return x\n"]
    assert child.endswith("def g():\n    return f(3)\n")


def test_full_rewrite_that_changes_frozen_code_is_rejected():
    new = PROGRAM.replace("return f(3)", "return 42")
    with pytest.raises(EditRejected, match="outside"):
        apply_full_rewrite(PROGRAM, f"```python\n{new}```")


def test_full_rewrite_without_code_is_rejected():
    with pytest.raises(EditRejected, match="holds no edit"):
        apply_full_rewrite(PROGRAM, "just words")


def test_block_markers_are_validated():
    assert len(find_blocks(PROGRAM)) == 1
    with pytest.raises(BlockError, match="never closed"):
        find_blocks("# EVOLVE-BLOCK-START\nx = 1\n")
    with pytest.raises(BlockError, match="without a matching"):
        find_blocks("x = 1\n# EVOLVE-BLOCK-END\n")
    with pytest.raises(BlockError):
        check_outside_unchanged(PROGRAM, PROGRAM.replace("import math", "import os"))
    check_outside_unchanged(PROGRAM, PROGRAM.replace("x * 2.0", "x * 5.0"))


def test_python_child_that_does_not_parse_is_rejected_before_any_sandbox():
    from evolve.diff import check_child

    child = apply_diff(PROGRAM, sr("    y = x * 2.0", "    y = (x * 2.0"))
    with pytest.raises(EditRejected, match="not valid Python: line"):
        check_child(PROGRAM, child, "python")
    check_child(PROGRAM, child, "c")  # other languages are left to their evaluator


def test_comment_or_layout_only_edit_is_rejected_and_hashes_alike():
    from evolve.diff import check_child
    from evolve.engine.population_db import code_hash

    cosmetic = apply_diff(PROGRAM, sr("    y = x * 2.0", "    # double it\n    y = x*2.0"))
    with pytest.raises(EditRejected, match="only comments or formatting"):
        check_child(PROGRAM, cosmetic, "python")
    assert code_hash(cosmetic, "python") == code_hash(PROGRAM, "python")
    real = apply_diff(PROGRAM, sr("    y = x * 2.0", "    y = x * 2.5"))
    check_child(PROGRAM, real, "python")
    assert code_hash(real, "python") != code_hash(PROGRAM, "python")
    assert code_hash(cosmetic, "text") != code_hash(PROGRAM, "text")  # only Python is parsed


def test_windows_line_endings_in_the_answer():
    answer = sr("    y = x * 2.0", "    y = x * 3.0").replace("\n", "\r\n")
    assert "x * 3.0" in apply_diff(PROGRAM, answer)
    rewrite = "```python\r\n" + PROGRAM.replace("x * 2.0", "x * 7.0").replace("\n", "\r\n") + "```"
    assert "x * 7.0" in apply_full_rewrite(PROGRAM, rewrite)


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
    child = apply_diff(LOOP, sr("s += x", "s += x\ns *= 2"))
    assert "        s += x\n        s *= 2\n    return s" in child


def test_a_search_inside_a_longer_line_does_not_match_there():
    with pytest.raises(EditRejected, match="matches nothing"):
        apply_diff(LOOP, sr("max = 1", "max = 9"))
    assert "beta_max = 9" in apply_diff(LOOP, sr("    beta_max = 1", "    beta_max = 9"))


def test_a_docstring_that_mentions_the_markers_is_not_a_block():
    program = '"""Only the code between EVOLVE-BLOCK-START and\nEVOLVE-BLOCK-END lines changes."""\n' + PROGRAM
    assert len(find_blocks(program)) == 1
    child = apply_full_rewrite(program, "```python\ndef f(x):\n    return 3 * x\n```")
    assert "return 3 * x" in child and child.startswith('"""Only the code')


def test_a_whole_program_without_its_markers_is_read_around_its_frozen_code():
    # Changed by issue 10: a program whose marker comments the model dropped used to be rejected.
    whole = PROGRAM.replace("# EVOLVE-BLOCK-START\n", "").replace("# EVOLVE-BLOCK-END\n", "")
    assert apply_full_rewrite(PROGRAM, f"```python\n{whole.replace('2.0', '3.0')}```") == PROGRAM.replace("2.0", "3.0")
    with pytest.raises(EditRejected, match="line 10 'return f\\(3\\)' is missing or changed"):
        apply_full_rewrite(PROGRAM, f"```python\n{whole.replace('f(3)', 'f(4)')}```")


def test_a_block_body_may_repeat_an_import():
    program = "import numpy as np\n" + PROGRAM
    child = apply_full_rewrite(program, "```python\nimport numpy as np\ndef f(x):\n    return np.sqrt(x)\n```")
    assert "return np.sqrt(x)" in child


def test_code_with_backtick_fences_inside_survives_prompt_and_rewrite():
    from evolve.mutate.prompt import fence

    program = PROGRAM.replace("def f(x):", 'def f(x):\n    """Example:\n    ```\n    f(1)\n    ```\n    """')
    outer = fence(program)
    assert outer == "````"
    answer = f"New version:\n{outer}python\n{program.replace('x * 2.0', 'x * 4.0')}{outer}\n"
    child = apply_full_rewrite(program, answer)
    assert "x * 4.0" in child and "```\n    f(1)" in child
