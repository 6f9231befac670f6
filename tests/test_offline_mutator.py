import logging
import random

from evolve.edit.blocks import check_outside_unchanged
from evolve.mutate.offline import describe_offline_limits, mutate, offline_targets, warn_offline_limits

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
        child, _ = mutate(PROGRAM, rng)
        check_outside_unchanged(PROGRAM, child)
        assert "Docstring 1.5 stays" in child and "comment 2.5 stays" in child
        changed += child != PROGRAM
        compile(child, "child", "exec")
    assert changed == 100


def test_seeded_and_varied():
    a = [mutate(PROGRAM, random.Random(s))[0] for s in range(20)]
    b = [mutate(PROGRAM, random.Random(s))[0] for s in range(20)]
    assert a == b
    assert len(set(a)) > 10


def test_nothing_to_mutate_returns_the_parent():
    program = "# EVOLVE-BLOCK-START\n# only a comment\n# EVOLVE-BLOCK-END\n"
    child, description = mutate(program, random.Random(0))
    assert child == program and "no mutable line" in description


def test_counts_what_it_can_perturb():
    assert offline_targets(PROGRAM) == 8  # 0.5, 3, 2.0, 1.25 and " * ", " + ", "<", "min("
    assert describe_offline_limits(PROGRAM) is None


def test_says_when_the_blocks_hold_nothing_to_perturb(caplog):
    program = 'LIMIT = 10\n# EVOLVE-BLOCK-START\ndef f(x):\n    """Says 2.5."""\n    return g(x, 1)  # 0 or 3.5\n# EVOLVE-BLOCK-END\n'
    assert offline_targets(program) == 0  # the 10 outside, the docstring's and comment's numbers, a flag-like 1
    with caplog.at_level(logging.WARNING, logger="evolve.mutate.offline"):
        message = warn_offline_limits(program)
    assert message is not None and "nothing to perturb" in message
    assert message == describe_offline_limits(program)
    assert [r.getMessage() for r in caplog.records] == [message]
