import logging
import random

from evolve.edit.blocks import check_outside_unchanged
from evolve.mutate.ast_sites import EditKind
from evolve.mutate.offline import describe_offline_limits, mutate, offline_targets, target_counts, warn_offline_limits

PROGRAM = '''import numpy as np
LIMIT = 10

# EVOLVE-BLOCK-START
def f(x):
    """Docstring 1.5 stays."""
    # comment 2.5 stays
    a = 0.5 * x + 3
    if a < 2.0:
        return min(a, 1.25)
    return a
# EVOLVE-BLOCK-END
'''


def test_changes_only_inside_blocks_and_never_comments():
    rng = random.Random(0)
    changed = 0
    for _ in range(100):
        child = mutate(PROGRAM, rng).code
        check_outside_unchanged(PROGRAM, child)
        assert "Docstring 1.5 stays" in child and "comment 2.5 stays" in child
        changed += child != PROGRAM
        compile(child, "child", "exec")
    assert changed == 100


def test_seeded_and_varied():
    a = [mutate(PROGRAM, random.Random(s)).code for s in range(20)]
    b = [mutate(PROGRAM, random.Random(s)).code for s in range(20)]
    assert a == b
    assert len(set(a)) > 10


def test_nothing_to_mutate_returns_the_parent():
    program = "# EVOLVE-BLOCK-START\n# only a comment\n# EVOLVE-BLOCK-END\n"
    child = mutate(program, random.Random(0))
    assert child.code == program and "nothing the offline mutator can change" in child.description
    assert child.kinds == ()


def test_counts_what_it_can_perturb():
    # 0.5, 3, 2.0; min's 1.25; *, +; <; min; the if's condition
    assert target_counts(PROGRAM) == {
        EditKind.CONSTANT: 3,
        EditKind.CALL_ARGUMENT: 1,
        EditKind.ARITHMETIC: 2,
        EditKind.COMPARISON: 1,
        EditKind.FUNCTION_SWAP: 1,
        EditKind.NEGATION: 1,
    }
    assert offline_targets(PROGRAM) == 9
    # Read as text (not Python): the numbers and the operator tokens " * ", " + ", "<", "min(".
    assert target_counts(PROGRAM, "c") == {EditKind.CONSTANT: 4, EditKind.OPERATOR: 4}
    assert describe_offline_limits(PROGRAM) is None


def test_says_when_the_blocks_hold_nothing_to_perturb(caplog):
    program = 'LIMIT = 10\n# EVOLVE-BLOCK-START\ndef f(x):\n    """Says 2.5."""\n    return g(x)  # 0 or 3.5\n# EVOLVE-BLOCK-END\n'
    assert offline_targets(program) == 0  # the 10 outside, the docstring's and comment's numbers
    with caplog.at_level(logging.WARNING, logger="evolve.mutate.offline"):
        message = warn_offline_limits(program)
    assert message is not None and "nothing to change" in message
    assert message == describe_offline_limits(program)
    assert [r.getMessage() for r in caplog.records] == [message]
