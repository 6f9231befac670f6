"""One AST-level edit of a Python block: a site of `evolve.mutate.ast_sites` turned into new text.

Only the edited tokens change (an operator, a name, a literal, a condition, two statements'
lines): comments and layout elsewhere stay as written. Each edit is also made on the tree, and the
new text must parse back to exactly that tree, so an edit that would mean something else (a
precedence surprise, a comment in the way) is dropped rather than proposed. Pure, seeded by the
caller's `random.Random`.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass

from evolve.mutate.ast_sites import (
    ARITHMETIC_FLIPS,
    COMPARISON_FLIPS,
    FUNCTION_SWAPS,
    EditKind,
    Site,
    constant_index,
    find_sites,
    function_name,
)
from evolve.mutate.offline_text import NUMBER, perturb_number

_TOKENS: dict[type, str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}
_COMPARE_TOKEN = re.compile(r"<=|>=|==|!=|<|>|\bis\s+not\b|\bnot\s+in\b|\bis\b|\bin\b")
_ARITHMETIC_TOKEN = re.compile(r"[-+*/]=?")
_BOOL_TOKEN = re.compile(r"\b(?:and|or)\b")
# Conditions that read plainly under `not` without parentheses (`not a < b` is legal but misleads).
_ATOMS = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.Constant)


class Block:
    """A block body and its tree; a body indented as a whole parses inside `if True:`."""

    def __init__(self, text: str) -> None:
        self.text = text if text.endswith("\n") else text + "\n"
        # The first code line decides (a comment's indentation means nothing to Python).
        first = next(
            (line for line in self.text.splitlines() if line.strip() and not line.lstrip().startswith("#")), ""
        )
        self.shift = 1 if first[: len(first) - len(first.lstrip())] else 0  # lines the wrapper adds
        wrapped = "if True:\n" + self.text if self.shift else self.text
        module = ast.parse(wrapped)
        self.tree = ast.Module(body=module.body[0].body, type_ignores=[]) if self.shift else module  # type: ignore[attr-defined]
        self.starts = [0]
        for line in self.text.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        """The text index of an ast position (a 1-based line, a UTF-8 byte column)."""
        start = self.starts[lineno - 1 - self.shift]
        line = self.text[start : self.starts[lineno - self.shift]]
        return start + len(line.encode()[:col].decode(errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]


def parse_block(text: str) -> Block | None:
    """The block parsed, or None where it is not Python on its own (a fragment, another language)."""
    try:
        return Block(text)
    except (SyntaxError, ValueError, IndexError, AttributeError):
        return None


@dataclass(frozen=True)
class Edit:
    kind: EditKind
    before: str  # the changed text as it was (one line's worth, for the description)
    after: str
    text: str  # the whole new block body

    def describe(self) -> str:
        before, after = " ".join(self.before.split()), " ".join(self.after.split())
        # A long line is shown from a little before its first change, so the change is in view.
        same = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
        start = max(0, same - 25)
        return f"{self.kind}: {_window(before, start)} -> {_window(after, start)}"


def _window(text: str, start: int, width: int = 70) -> str:
    head = "..." if start else ""
    tail = "..." if len(text) > start + width else ""
    return head + text[start : start + width] + tail


Change = tuple[int, int, str]  # replace text[start:end] with this


def apply_site(block: Block, site: Site, rng: random.Random) -> Edit | None:
    """Make the site's edit on `block` (its tree is changed in place); None where the edit cannot
    be written so that it parses back to the edited tree."""
    changes = _EDITORS[site.kind](block, site, rng)
    if not changes:
        return None
    text = block.text
    for start, end, new in sorted(changes, reverse=True):
        text = text[:start] + new + text[end:]
    again = parse_block(text)
    if again is None or ast.dump(again.tree) != ast.dump(block.tree):
        return None
    # The description shows the changed lines whole, as they were and as they are.
    first = block.text.rfind("\n", 0, min(c[0] for c in changes)) + 1
    last = block.text.find("\n", max(first, max(c[1] for c in changes) - 1))  # a swap's end is a line's start
    grown = len(text) - len(block.text)
    return Edit(site.kind, block.text[first:last], text[first : last + grown], text)


def _in_gap(block: Block, after: ast.AST, before: ast.AST, token: re.Pattern[str], new: str) -> Change | None:
    """Replace the first `token` between the end of one node and the start of the next."""
    start = block.offset(after.end_lineno, after.end_col_offset)  # type: ignore[attr-defined]
    end = block.offset(before.lineno, before.col_offset)  # type: ignore[attr-defined]
    found = token.search(block.text, start, end)
    return (found.start(), found.end(), new) if found else None


def _comparison(block: Block, site: Site, rng: random.Random) -> list[Change]:
    node = site.node
    assert isinstance(node, ast.Compare)
    i = rng.randrange(len(node.ops))
    new_op = rng.choice(COMPARISON_FLIPS[type(node.ops[i])])()
    operands = [node.left, *node.comparators]
    change = _in_gap(block, operands[i], operands[i + 1], _COMPARE_TOKEN, _TOKENS[type(new_op)])
    node.ops[i] = new_op
    return [change] if change else []


def _boolean(block: Block, site: Site, rng: random.Random) -> list[Change]:
    node = site.node
    assert isinstance(node, ast.BoolOp)
    new = "or" if isinstance(node.op, ast.And) else "and"
    node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    changes = [_in_gap(block, a, b, _BOOL_TOKEN, new) for a, b in zip(node.values, node.values[1:])]
    return [] if None in changes else [c for c in changes if c]


def _arithmetic(block: Block, site: Site, rng: random.Random) -> list[Change]:
    node = site.node
    assert isinstance(node, (ast.BinOp, ast.AugAssign))
    new_op = ARITHMETIC_FLIPS[type(node.op)]()
    left, right = (node.left, node.right) if isinstance(node, ast.BinOp) else (node.target, node.value)
    suffix = "=" if isinstance(node, ast.AugAssign) else ""
    change = _in_gap(block, left, right, _ARITHMETIC_TOKEN, _TOKENS[type(new_op)] + suffix)
    node.op = new_op
    return [change] if change else []


def _nudged(block: Block, node: ast.Constant, rng: random.Random, small_ints: bool) -> list[Change]:
    """A numeric literal nudged in its own notation (1e-3 stays an exponent); ints by one."""
    literal = block.segment(node)
    if not NUMBER.fullmatch(literal):
        return []  # 0x10, 1_000, 1j: left alone
    if isinstance(node.value, int) and small_ints:
        new = str(max(0, node.value + rng.choice((-1, 1))) if node.value else 1)
    else:
        new = perturb_number(literal, rng)
    node.value = ast.literal_eval(new)
    start, end = block.span(node)
    return [(start, end, new)]


def _constant(block: Block, site: Site, rng: random.Random) -> list[Change]:
    assert isinstance(site.node, ast.Constant)
    return _nudged(block, site.node, rng, small_ints=False)


def _call_argument(block: Block, site: Site, rng: random.Random) -> list[Change]:
    assert isinstance(site.node, ast.Constant)
    return _nudged(block, site.node, rng, small_ints=True)


def _truth_value(block: Block, site: Site, rng: random.Random) -> list[Change]:
    node = site.node
    assert isinstance(node, ast.Constant)
    node.value = not node.value
    start, end = block.span(node)
    return [(start, end, str(node.value))]


def _function_swap(block: Block, site: Site, rng: random.Random) -> list[Change]:
    node = site.node
    assert isinstance(node, ast.Call)
    name = function_name(node)
    assert name is not None
    new = FUNCTION_SWAPS[name]
    _, end = block.span(node.func)
    if isinstance(node.func, ast.Name):
        node.func.id = new
    elif isinstance(node.func, ast.Attribute):
        node.func.attr = new
    return [(end - len(name), end, new)]


def _sort_order(block: Block, site: Site, rng: random.Random) -> list[Change]:
    """sorted(x) <-> sorted(x, reverse=True) (and .sort()); reversed(x) -> x."""
    node = site.node
    assert isinstance(node, ast.Call)
    start, end = block.span(node)
    if function_name(node) == "reversed":
        inner = node.args[0]
        inner_start, inner_end = block.span(inner)
        parent_fields = _replace_in_parent(block.tree, node, inner)
        return [(start, end, block.text[inner_start:inner_end])] if parent_fields else []
    reverse = next((k for k in node.keywords if k.arg == "reverse"), None)
    if reverse is None:
        node.keywords.append(ast.keyword("reverse", ast.Constant(True)))
        close = block.text.rindex(")", start, end)
        before = block.text[start:close].rstrip()
        glue = "" if before.endswith("(") else " " if before.endswith(",") else ", "
        return [(close, close, glue + "reverse=True")]
    if isinstance(reverse.value, ast.Constant) and isinstance(reverse.value.value, bool):
        return _truth_value(block, Site(EditKind.TRUTH_VALUE, reverse.value), rng)
    value = block.segment(reverse.value)
    v_start, v_end = block.span(reverse.value)
    reverse.value = ast.UnaryOp(ast.Not(), reverse.value)
    return [(v_start, v_end, f"not ({value})")]


def _replace_in_parent(tree: ast.AST, old: ast.AST, new: ast.AST) -> bool:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return True
            if isinstance(value, list) and any(v is old for v in value):
                value[next(i for i, v in enumerate(value) if v is old)] = new
                return True
    return False


def _negation(block: Block, site: Site, rng: random.Random) -> list[Change]:
    node = site.node
    assert isinstance(node, (ast.If, ast.IfExp))
    test = node.test
    start, end = block.span(test)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        node.test = test.operand
        return [(start, end, block.segment(test.operand))]
    node.test = ast.UnaryOp(ast.Not(), test)
    text = block.segment(test)
    return [(start, end, f"not {text}" if isinstance(test, _ATOMS) else f"not ({text})")]


def _index_node(value: int) -> ast.expr:
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)


def _choice(block: Block, site: Site, rng: random.Random) -> list[Change]:
    """random.choice(xs) -> xs[i]: the pick made fixed, its index then nudged by later edits."""
    node = site.node
    assert isinstance(node, ast.Call)
    seq = node.args[0]
    index = rng.choice((0, 1, -1, -2))
    text = block.segment(seq)
    if not isinstance(seq, (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.List, ast.Tuple)):
        text = f"({text})"
    if not _replace_in_parent(block.tree, node, ast.Subscript(seq, _index_node(index), ast.Load())):
        return []
    start, end = block.span(node)
    return [(start, end, f"{text}[{index}]")]


def _index(block: Block, site: Site, rng: random.Random) -> list[Change]:
    node = site.node
    assert isinstance(node, ast.Subscript)
    old = constant_index(node)
    assert old is not None
    new = old + rng.choice((-1, 1))
    node.slice = _index_node(new)
    start = block.offset(node.value.end_lineno, node.value.end_col_offset)  # type: ignore[arg-type]
    _, end = block.span(node)
    return [(start, end, f"[{new}]")]


def _statement_swap(block: Block, site: Site, rng: random.Random) -> list[Change]:
    a, b = site.node, site.second
    assert isinstance(a, ast.stmt) and isinstance(b, ast.stmt)
    a_start, b_start = (block.offset(s.lineno, 0) for s in (a, b))
    if block.text[a_start : block.offset(a.lineno, a.col_offset)].strip():
        return []  # the first statement shares its line with a header (`if c: x = 1`)
    a_end = block.starts[a.end_lineno - block.shift]  # type: ignore[operator]
    b_end = block.starts[b.end_lineno - block.shift]  # type: ignore[operator]
    for body in _bodies_holding(block.tree, a):
        i = body.index(a)
        body[i], body[i + 1] = b, a
    middle = block.text[a_end:b_start]
    return [(a_start, b_end, block.text[b_start:b_end] + middle + block.text[a_start:a_end])]


def _bodies_holding(tree: ast.AST, stmt: ast.stmt) -> list[list[ast.stmt]]:
    return [
        body
        for node in ast.walk(tree)
        for name in ("body", "orelse", "finalbody")
        if isinstance(body := getattr(node, name, None), list) and any(s is stmt for s in body)
    ]


_EDITORS = {
    EditKind.CONSTANT: _constant,
    EditKind.CALL_ARGUMENT: _call_argument,
    EditKind.COMPARISON: _comparison,
    EditKind.BOOLEAN: _boolean,
    EditKind.ARITHMETIC: _arithmetic,
    EditKind.FUNCTION_SWAP: _function_swap,
    EditKind.SORT_ORDER: _sort_order,
    EditKind.NEGATION: _negation,
    EditKind.TRUTH_VALUE: _truth_value,
    EditKind.STATEMENT_SWAP: _statement_swap,
    EditKind.CHOICE: _choice,
    EditKind.INDEX: _index,
}


def block_sites(text: str) -> list[Site] | None:
    """The sites of a block body, or None where it is not Python on its own."""
    block = parse_block(text)
    return None if block is None else find_sites(block.tree)
