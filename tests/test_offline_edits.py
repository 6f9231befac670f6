"""The offline mutator's AST-level edits, one kind at a time, and on a block with no number."""

import ast
import random
from pathlib import Path

import pytest

from evolve.edit import check_child
from evolve.edit.blocks import check_outside_unchanged
from evolve.mutate.ast_edits import apply_site, parse_block
from evolve.mutate.ast_sites import EditKind, find_sites
from evolve.mutate.offline import describe_offline_targets, mutate, offline_targets, target_counts
from evolve.problem import load_problem

ROOT = Path(__file__).resolve().parents[1]


def edit_of(kind: EditKind, body: str, seed: int = 0) -> str:
    """The body after one edit of `kind` at its first site (seeded); asserts it happened and parses."""
    block = parse_block(body)
    assert block is not None
    site = next(s for s in find_sites(block.tree) if s.kind == kind)
    edit = apply_site(block, site, random.Random(seed))
    assert edit is not None and edit.kind == kind
    assert edit.text != block.text
    ast.parse(edit.text if not edit.text.startswith(" ") else "if True:\n" + edit.text)
    return edit.text


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        (EditKind.COMPARISON, "if a == b:\n    x = 1\n", "if a != b:\n    x = 1\n"),
        (EditKind.COMPARISON, "ok = k in seen\n", "ok = k not in seen\n"),
        (EditKind.BOOLEAN, "ok = a and b and c  # both\n", "ok = a or b or c  # both\n"),
        (EditKind.ARITHMETIC, "y = (a) * (b)\n", "y = (a) / (b)\n"),
        (EditKind.ARITHMETIC, "total += step\n", "total -= step\n"),
        (EditKind.FUNCTION_SWAP, "best = min(scores, key=len)\n", "best = max(scores, key=len)\n"),
        (EditKind.FUNCTION_SWAP, "i = np.argmax(v)\n", "i = np.argmin(v)\n"),
        (EditKind.FUNCTION_SWAP, "ok = all(m > 0 for m in moves)\n", "ok = any(m > 0 for m in moves)\n"),
        (EditKind.SORT_ORDER, "order = sorted(moves)\n", "order = sorted(moves, reverse=True)\n"),
        (EditKind.SORT_ORDER, "moves.sort(reverse=True)\n", "moves.sort(reverse=False)\n"),
        (EditKind.SORT_ORDER, "for m in reversed(moves):\n    go(m)\n", "for m in moves:\n    go(m)\n"),
        (EditKind.NEGATION, "if ready:\n    go()\n", "if not ready:\n    go()\n"),
        (EditKind.NEGATION, "if a and b:\n    go()\n", "if not (a and b):\n    go()\n"),
        (EditKind.NEGATION, "x = 1 if not (a or b) else 2\n", "x = 1 if a or b else 2\n"),
        (EditKind.TRUTH_VALUE, "greedy = True\n", "greedy = False\n"),
        (
            EditKind.STATEMENT_SWAP,
            "def f(a, b):\n    x = g(a)\n    # why\n    y = h(b)\n    return x + y\n",
            "def f(a, b):\n    y = h(b)\n    # why\n    x = g(a)\n    return x + y\n",
        ),
    ],
)
def test_each_kind_edits_only_its_tokens(kind, body, expected):
    assert edit_of(kind, body) == expected


def test_a_random_pick_is_made_fixed_and_its_index_then_moves():
    """The whole block of a random policy (ShinkaEvolve's game_2048 starts from one like it)."""
    body = "def policy(board):\n    return random.choice(list(Move))\n"
    fixed = {edit_of(EditKind.CHOICE, body, seed) for seed in range(12)}
    assert fixed == {f"def policy(board):\n    return list(Move)[{i}]\n" for i in (0, 1, -1, -2)}
    assert edit_of(EditKind.CHOICE, "x = rng.choice(a + b)\n") in {f"x = (a + b)[{i}]\n" for i in (0, 1, -1, -2)}
    assert edit_of(EditKind.INDEX, "best = order[0]\n") in ("best = order[-1]\n", "best = order[1]\n")
    assert edit_of(EditKind.INDEX, "last = order[-1]\n", seed=1) in ("last = order[-2]\n", "last = order[0]\n")
    block = parse_block("w = weights[2]\n")
    assert block is not None  # a constant index is an index, not also a constant
    assert [s.kind for s in find_sites(block.tree)] == [EditKind.INDEX]


def test_numbers_are_nudged_in_their_own_notation():
    assert edit_of(EditKind.CONSTANT, "rate = 1e-3\n") != "rate = 1e-3\n"
    assert "e" in edit_of(EditKind.CONSTANT, "rate = 1e-3\n")
    assert edit_of(EditKind.CALL_ARGUMENT, "r = round(x, 2)\n", seed=0) in ("r = round(x, 1)\n", "r = round(x, 3)\n")
    assert edit_of(EditKind.CALL_ARGUMENT, "r = range(0, n)\n") == "r = range(1, n)\n"  # never below 0


def test_an_indented_block_keeps_its_indentation_and_comments():
    body = "    # the policy\n    if a < b:  # keep\n        return x\n    return y\n"
    new = edit_of(EditKind.COMPARISON, body)
    assert new.splitlines()[0] == "    # the policy" and new.splitlines()[1].endswith(":  # keep")
    assert new.splitlines()[1].startswith("    if a ")


def test_dependent_statements_and_jumps_are_never_swapped():
    block = parse_block("x = 1\ny = x + 1\nif y:\n    return y\nz = 3\nw = 4; v = 5\n")
    assert block is not None
    assert [s.kind for s in find_sites(block.tree)].count(EditKind.STATEMENT_SWAP) == 0
    swappable = parse_block("a = f(p)\nb = g(q)\nq.append(a)\n")
    assert swappable is not None  # a, b independent; b reads q, which the append changes
    pairs = [s for s in find_sites(swappable.tree) if s.kind == EditKind.STATEMENT_SWAP]
    assert len(pairs) == 1


def test_docstrings_and_strings_are_not_edited():
    block = parse_block('def f():\n    """Uses 2.5 and x < y."""\n    return "a" + name\n')
    assert block is not None
    assert find_sites(block.tree) == []


POLICY = '''import random

# EVOLVE-BLOCK-START
def choose_move(board, moves):
    """Pick a move for a 2048-like game: prefer merges, then keep the largest tile in a corner."""
    if not moves:
        return None
    merges = [m for m in moves if board.merges(m)]
    if merges:
        return max(merges, key=board.merge_value)
    corner = board.largest_in_corner()
    safe = sorted(m for m in moves if board.keeps_corner(m))
    if corner and safe:
        return safe.pop()
    elif board.is_full():
        return min(moves, key=board.empty_after)
    return random.choice(moves)
# EVOLVE-BLOCK-END
'''


def test_a_block_without_numbers_still_changes():
    """A game-move policy (if/elif, min/max, sorted, no number, no arithmetic): at least 16 of 20
    children change the program and parse."""
    counts = target_counts(POLICY)
    assert not {EditKind.CONSTANT, EditKind.CALL_ARGUMENT, EditKind.INDEX, EditKind.ARITHMETIC} & set(counts)
    rng = random.Random(7)
    good = 0
    for _ in range(20):
        child = mutate(POLICY, rng, "python")
        check_outside_unchanged(POLICY, child.code)
        try:
            compile(child.code, "child", "exec")
        except SyntaxError:
            continue
        good += child.code != POLICY and bool(child.kinds)
    assert good >= 16


def test_the_start_line_counts_by_kind():
    line = describe_offline_targets(POLICY)
    assert line.startswith("offline mutator: ") and line.endswith(" in the blocks")
    counts = target_counts(POLICY)
    assert counts[EditKind.FUNCTION_SWAP] == 2 and counts[EditKind.NEGATION] == 4
    assert f"{counts[EditKind.COMPARISON]} comparison" not in line or counts[EditKind.COMPARISON] == 0
    assert "2 min/max-like calls" in line and "4 conditions" in line


def test_c_blocks_fall_back_to_text_edits():
    code = "int f(int x) {\n// EVOLVE-BLOCK-START\n    int k = 16;\n    return x < k ? x : k;\n// EVOLVE-BLOCK-END\n}\n"
    counts = target_counts(code, "c")
    assert set(counts) <= {EditKind.CONSTANT, EditKind.OPERATOR} and counts[EditKind.CONSTANT] == 1
    child = mutate(code, random.Random(0), "c")
    check_outside_unchanged(code, child.code)
    assert child.code != code and set(child.kinds) <= {EditKind.CONSTANT, EditKind.OPERATOR}


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in (ROOT / "problems").glob("*/problem.toml")))
def test_every_shipped_problem_gets_valid_children(folder):
    """Each shipped problem (Python and C): 10 children change the blocks only, and a Python one parses."""
    problem = load_problem(ROOT / "problems" / folder)
    assert offline_targets(problem.initial_code, problem.language) > 0
    rng = random.Random(0)
    for _ in range(10):
        child = mutate(problem.initial_code, rng, problem.language)
        assert child.code != problem.initial_code and child.kinds
        check_child(problem.initial_code, child.code, problem.language)
        if problem.language == "python":
            compile(child.code, folder, "exec")
