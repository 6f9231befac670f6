import random

from evolve.blocks import check_outside_unchanged
from evolve.mutate.offline import mutate

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
        child, description = mutate(PROGRAM, rng)
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
