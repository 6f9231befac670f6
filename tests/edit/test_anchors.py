"""The anchor salvage (evolve/edit/anchors.py): a whole program that changed code outside the
blocks gives the child its blocks meant, read between the frozen lines around each block, on
the answers a small model writes for the repository's own problems; never a child whose frozen
code differs from its parent's, and never a guess where an anchor is missing or ambiguous."""

from __future__ import annotations

from pathlib import Path

from evolve.edit.anchors import anchored_child, code_key
from evolve.edit.blocks import block_bodies, split
from evolve.kinds import AnswerForm

from edit_helpers import TWO_BLOCKS, child_of, rejection

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"
CIRCLES = (PROBLEMS / "circle_packing" / "initial_program.py").read_text()
TXN = (PROBLEMS / "txn_scheduling" / "initial_program.py").read_text()


def unmarked(code: str) -> str:
    return "".join(line for line in code.splitlines(keepends=True) if "EVOLVE-BLOCK" not in line)


def answered(code: str) -> str:
    """A 0.5B model's usual answer to a rewrite prompt: a sentence, then the program fenced."""
    return (
        f"Here is an improved version of the program with a larger margin:\n\n```python\n{code}```\n\nThis should help."
    )


def test_code_key_ignores_spaces_and_comments_but_not_a_hash_in_a_string():
    assert code_key("    centers = place_centers()  # the grid") == "centers=place_centers()"
    assert code_key("# EVOLVE-BLOCK-START") == ""
    assert code_key('print(f"sum of radii: {r.sum():.4f}")  # shown') == 'print(f"sumofradii:{r.sum():.4f}")'
    assert code_key("x = '#'  # a hash") == "x='#'"


def test_a_marker_less_program_that_changed_a_frozen_function_keeps_the_parents():
    # What Qwen2.5-Coder-0.5B wrote on circle_packing: the block rewritten, and a line added to
    # the frozen construct_packing; the module docstring reworded.
    written = (
        unmarked(CIRCLES)
        .replace("margin = 0.1", "margin = 0.08")
        .replace('"""Pack 26 circles', '"""Packs 26 circles')
        .replace("    return centers, radii", "    radii = np.clip(radii, 0, None)\n    return centers, radii")
    )
    child = child_of(answered(written), AnswerForm.FULL_PROGRAM_ANCHORED, CIRCLES)
    assert split(child)[0] == split(CIRCLES)[0]  # every frozen character the parent's
    assert child == CIRCLES.replace("margin = 0.1", "margin = 0.08").replace(
        "    return radii\n\n\n#", "    return radii\n#"
    )


def test_a_program_with_markers_that_changed_frozen_code_and_moved_a_blank_line():
    written = (
        CIRCLES.replace("margin = 0.1", "margin = 0.09")
        .replace("N = 26\n\n\n", "N = 26  # circles\n")
        .replace('    print(f"sum of radii: {r.sum():.4f}")', '    print("sum:", r.sum())')
    )
    child = child_of(answered(written), AnswerForm.FULL_PROGRAM_ANCHORED, CIRCLES)
    assert block_bodies(child)[0].startswith("def place_centers():")
    assert "margin = 0.09" in child and 'print(f"sum of radii' in child and "sum:" not in child


def test_a_txn_scheduling_rewrite_that_touched_the_frozen_helpers():
    new_body = '''def get_schedule(txns, deadline):
    """Shortest transactions first."""
    order = sorted(range(len(txns)), key=lambda i: len(txns[i]))
    return order
'''
    body = split(TXN)[1][0]
    written = unmarked(TXN.replace(body, new_body)).replace(
        "        self.end = 0\n", "        self.end = 0  # makespan\n        self.count = 0\n"
    )
    child = child_of(answered(written), AnswerForm.FULL_PROGRAM_ANCHORED, TXN)
    assert block_bodies(child) == [new_body]
    assert split(child)[0] == split(TXN)[0]


def test_an_import_added_at_the_top_moves_into_the_block():
    written = unmarked(CIRCLES).replace("import numpy as np\n", "import math\nimport numpy as np\n")
    written = written.replace("margin = 0.1", "margin = math.sqrt(0.01)").replace("N = 26", "N = 26  # fixed")
    written = written.replace("def construct_packing():", "def construct_packing():\n    # build it")
    written = written.replace("    return centers, radii", "    return centers, radii * 1.0")
    child = child_of(answered(written), AnswerForm.FULL_PROGRAM_ANCHORED, CIRCLES)
    assert block_bodies(child)[0].startswith("import math\n\ndef place_centers():")


def test_two_blocks_are_read_between_their_anchors():
    written = unmarked(TWO_BLOCKS).replace("A = 1.0", "A = 2.0").replace("return A * x", "return A * x + 1")
    written = written.replace("def middle():\n", "def middle():\n    print('middle')\n")  # frozen, between the blocks
    child = child_of(answered(written), AnswerForm.FULL_PROGRAM_ANCHORED, TWO_BLOCKS)
    assert block_bodies(child) == ["A = 2.0\n", "def g(x):\n    return A * x + 1\n"]
    assert child.endswith("print(g(middle()))\n")


def test_a_missing_anchor_keeps_the_rejection():
    # The after-anchor `def construct_packing():` renamed: where the block ends is a guess.
    written = unmarked(CIRCLES).replace("margin = 0.1", "margin = 0.08").replace("def construct_packing", "def build")
    form, reason = rejection(answered(written), CIRCLES)
    assert form == AnswerForm.FULL_PROGRAM and "'def construct_packing():' is missing or changed" in reason


def test_an_anchor_found_twice_grows_and_then_gives_up():
    after = "\n\ndef main():\n    print(f())\n"
    program = "import math\n\nX = 1\n\n# EVOLVE-BLOCK-START\ndef f():\n    return X\n# EVOLVE-BLOCK-END" + after
    # `X = 1` again inside the new body: the anchor grows to `import math`, `X = 1`, found once.
    grown = "import math\n\nX = 1\n\ndef f():\n    X = 1\n    return X + 1\n\n\ndef main():\n    print(f(), 'done')\n"
    child = child_of(answered(grown), AnswerForm.FULL_PROGRAM_ANCHORED, program)
    assert block_bodies(child) == ["def f():\n    X = 1\n    return X + 1\n"]
    # The whole frozen part twice over: no anchor is found once, so nothing is guessed.
    twice = "import math\n\nX = 1\nimport math\n\nX = 1\ndef f():\n    return X + 1\n\n\ndef main():\n    print(f(), 'done')\n"
    assert anchored_child(program, twice) is None
    assert rejection(answered(twice), program)[0] == AnswerForm.FULL_PROGRAM


def test_a_block_that_drops_a_name_the_frozen_code_calls_is_no_child():
    written = unmarked(CIRCLES).replace("def radii_for(centers):", "def compute_radii(centers):")
    written = written.replace("    return centers, radii", "    return centers, radii  # done")
    assert anchored_child(CIRCLES, written) is None  # construct_packing still calls radii_for
    form, _ = rejection(answered(written), CIRCLES)
    assert form == AnswerForm.FULL_PROGRAM


def test_a_body_that_does_not_parse_is_no_child():
    written = unmarked(CIRCLES).replace("margin = 0.1", "margin = 0.1.5").replace("N = 26", "N = 26  # n")
    written = written.replace("    return centers, radii", "    return (centers, radii)")
    assert anchored_child(CIRCLES, written) is None


def test_only_frozen_code_changed_is_rejected_with_the_line_it_changed():
    written = CIRCLES.replace("    return centers, radii", "    return centers, radii * 2")
    form, reason = rejection(answered(written), CIRCLES)
    assert form == AnswerForm.FULL_PROGRAM and "'    return centers, radii' became" in reason
    assert reason.startswith("the edit changes nothing inside the EVOLVE-BLOCKs")


def test_the_salvage_is_for_python_only():
    written = (
        unmarked(CIRCLES).replace("margin = 0.1", "margin = 0.08").replace("    return centers, radii", "    return 1")
    )
    reading_form, reason = rejection(answered(written), CIRCLES, language="ruby")
    assert reading_form == AnswerForm.FULL_PROGRAM and "missing or changed" in reason


def after_the_head(code: str) -> str:
    """The program from its first EVOLVE-BLOCK on: what a small model writes when it answers a
    quoted block with the block and the frozen code after it, but not the imports before it."""
    return code[code.index("# EVOLVE-BLOCK-START") :]


def test_an_answer_that_starts_at_the_block_keeps_the_parents_head():
    # Qwen2.5-Coder-0.5B on circle_packing: the block's code, then construct_packing and the
    # __main__ guard copied, no docstring, no import, no N: the head left out, not changed.
    written = unmarked(after_the_head(CIRCLES)).replace("margin = 0.1", "margin = 0.07")
    child = child_of(answered(written), AnswerForm.FULL_PROGRAM_ANCHORED, CIRCLES)
    assert child == CIRCLES.replace("margin = 0.1", "margin = 0.07").replace(
        "    return radii\n\n\n#", "    return radii\n#"
    )


def test_a_head_left_out_but_a_frozen_line_kept_is_still_an_anchor_to_find():
    # `N = 26` kept but `import numpy as np` gone: the head is there, changed; its anchor (N = 26)
    # is found, so the block is read after it, and the import stays the parent's.
    written = unmarked(CIRCLES).replace("import numpy as np\n", "").replace("margin = 0.1", "margin = 0.06")
    child = child_of(answered(written), AnswerForm.FULL_PROGRAM_ANCHORED, CIRCLES)
    assert child == CIRCLES.replace("margin = 0.1", "margin = 0.06").replace(
        "    return radii\n\n\n#", "    return radii\n#"
    )


def test_an_unchanged_block_after_a_left_out_head_changes_nothing():
    form, reason = rejection(answered(unmarked(after_the_head(CIRCLES))), CIRCLES)
    assert form == AnswerForm.FULL_PROGRAM
    assert (
        reason.startswith("the edit changes nothing inside the EVOLVE-BLOCKs, and ") and "import numpy as np" in reason
    )


def test_a_rewrite_that_changed_only_frozen_code_is_told_its_blocks_are_unchanged():
    # Qwen2.5-Coder-0.5B on txn_scheduling: the program copied, block and all, its imports rewritten.
    written = TXN.replace("import random\n", "from random import random, time\n")
    form, reason = rejection(answered(written), TXN)
    assert form == AnswerForm.FULL_PROGRAM
    assert reason.startswith("the edit changes nothing inside the EVOLVE-BLOCKs, and ")
    assert "'import random' became 'from random import random, time'" in reason
    # With the block changed too, the anchors give the child its new block, the imports the parent's.
    changed = written.replace("sample = 10", "sample = 12")
    child = child_of(answered(changed), AnswerForm.FULL_PROGRAM_ANCHORED, TXN)
    assert split(child)[0] == split(TXN)[0] and "    sample = 12\n" in child
