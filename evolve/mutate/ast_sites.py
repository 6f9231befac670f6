"""Where the offline mutator can edit a parsed Python block: one `Site` per place, by kind.

Pure functions over an `ast` tree, no I/O. `evolve.mutate.ast_edits` turns a site into new text.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class EditKind(StrEnum):
    """What one offline edit did; a proposal's description names it."""

    CONSTANT = "constant"  # a numeric literal nudged (0.5 -> 0.52, 8 -> 9)
    CALL_ARGUMENT = "call_argument"  # a numeric argument of a call nudged (round(x, 2) -> round(x, 3))
    COMPARISON = "comparison"  # < to <=, > to <, == to !=, in to not in ...
    BOOLEAN = "boolean"  # and <-> or
    ARITHMETIC = "arithmetic"  # + <-> -, * <-> / (also +=, -=, *=, /=)
    FUNCTION_SWAP = "function_swap"  # min <-> max, any <-> all, floor <-> ceil, argmin <-> argmax
    SORT_ORDER = "sort_order"  # sorted(x) <-> sorted(x, reverse=True), .sort() alike, reversed(x) -> x
    NEGATION = "negation"  # if c: -> if not c:
    TRUTH_VALUE = "truth_value"  # True <-> False
    STATEMENT_SWAP = "statement_swap"  # two adjacent statements that share no variable change places
    CHOICE = "choice"  # random.choice(xs) -> xs[0] (or xs[1], xs[-1], xs[-2]): a random pick made fixed
    INDEX = "index"  # a constant subscript nudged by one (xs[0] -> xs[1])
    OPERATOR = "operator"  # text level (not Python): an operator token swapped


# Singular and plural names for the start line ("offline mutator: 12 constants, 5 comparisons ...").
LABELS: dict[EditKind, tuple[str, str]] = {
    EditKind.CONSTANT: ("constant", "constants"),
    EditKind.CALL_ARGUMENT: ("call argument", "call arguments"),
    EditKind.COMPARISON: ("comparison", "comparisons"),
    EditKind.BOOLEAN: ("and/or", "and/ors"),
    EditKind.ARITHMETIC: ("arithmetic operator", "arithmetic operators"),
    EditKind.FUNCTION_SWAP: ("min/max-like call", "min/max-like calls"),
    EditKind.SORT_ORDER: ("sort order", "sort orders"),
    EditKind.NEGATION: ("condition", "conditions"),
    EditKind.TRUTH_VALUE: ("True/False", "True/Falses"),
    EditKind.STATEMENT_SWAP: ("swappable statement pair", "swappable statement pairs"),
    EditKind.CHOICE: ("random choice", "random choices"),
    EditKind.INDEX: ("constant index", "constant indices"),
    EditKind.OPERATOR: ("operator", "operators"),
}

COMPARISON_FLIPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.Gt),
    ast.LtE: (ast.Lt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
ARITHMETIC_FLIPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
}
FUNCTION_SWAPS = {
    "min": "max",
    "max": "min",
    "any": "all",
    "all": "any",
    "floor": "ceil",
    "ceil": "floor",
    "argmin": "argmax",
    "argmax": "argmin",
    "amin": "amax",
    "amax": "amin",
    "minimum": "maximum",
    "maximum": "minimum",
    "nanmin": "nanmax",
    "nanmax": "nanmin",
}
# Statements whose place decides where control goes: never moved, nor anything holding one.
_JUMPS = (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Yield, ast.YieldFrom, ast.Await)
_MOVABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.If, ast.For, ast.While, ast.With)


@dataclass(frozen=True)
class Site:
    """One place an edit can go: the node to change (for a statement swap, the first of the pair)."""

    kind: EditKind
    node: ast.AST = field(compare=False)
    second: ast.stmt | None = field(default=None, compare=False)  # a statement swap's other statement


def function_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def is_number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _is_perturbable_constant(node: ast.Constant) -> bool:
    """Floats always; ints above 1 only (0 and 1 are mostly flags and indices)."""
    return isinstance(node.value, float) or (isinstance(node.value, int) and node.value > 1)


def _call_argument_numbers(call: ast.Call) -> Iterator[ast.Constant]:
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        if isinstance(arg, ast.UnaryOp) and isinstance(arg.op, (ast.USub, ast.UAdd)):
            arg = arg.operand
        if isinstance(arg, ast.Constant) and is_number(arg):
            yield arg


def _is_sort_call(call: ast.Call) -> bool:
    name = function_name(call)
    if name == "sorted" and isinstance(call.func, ast.Name):
        return True
    if name == "sort" and isinstance(call.func, ast.Attribute):
        return True
    return name == "reversed" and isinstance(call.func, ast.Name) and len(call.args) == 1 and not call.keywords


def is_random_choice(call: ast.Call) -> bool:
    """`random.choice(xs)`, `rng.choice(xs)`, `np.random.choice(xs)`: one argument, no keywords."""
    return (
        isinstance(call.func, ast.Attribute)
        and call.func.attr == "choice"
        and len(call.args) == 1
        and not call.keywords
        and not isinstance(call.args[0], ast.Starred)
    )


def constant_index(node: ast.Subscript) -> int | None:
    """The subscript's index when it is a plain int (xs[2], xs[-1]), else None."""
    index = node.slice
    sign = 1
    if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
        index, sign = index.operand, -1
    if isinstance(index, ast.Constant) and type(index.value) is int:
        return sign * index.value
    return None


def _is_text_operand(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring expressions: never edited."""
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                out.add(id(value))
    return out


def find_sites(tree: ast.Module) -> list[Site]:
    """Every place of `tree` an edit can go, in source order within each kind."""
    sites: list[Site] = []
    call_args = {id(c) for node in ast.walk(tree) if isinstance(node, ast.Call) for c in _call_argument_numbers(node)}
    # A constant index is an INDEX site, not also a CONSTANT one.
    skipped = _docstrings(tree) | {
        id(n)
        for s in ast.walk(tree)
        if isinstance(s, ast.Subscript)
        for n in ast.walk(s.slice)
        if isinstance(n, ast.Constant)
    }
    for node in ast.walk(tree):
        sites.extend(_sites_of(node, call_args, skipped))
    sites.extend(Site(EditKind.STATEMENT_SWAP, a, b) for a, b in swappable_pairs(tree))
    return sites


def _sites_of(node: ast.AST, call_args: set[int], skipped: set[int]) -> Iterator[Site]:
    if isinstance(node, ast.Constant) and id(node) not in skipped:
        if isinstance(node.value, bool):
            yield Site(EditKind.TRUTH_VALUE, node)
        elif id(node) in call_args:
            yield Site(EditKind.CALL_ARGUMENT, node)
        elif is_number(node) and _is_perturbable_constant(node):
            yield Site(EditKind.CONSTANT, node)
    elif isinstance(node, ast.Compare):
        yield from (Site(EditKind.COMPARISON, node) for _ in node.ops)
    elif isinstance(node, ast.BoolOp):
        yield Site(EditKind.BOOLEAN, node)
    elif isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC_FLIPS:
        if not (_is_text_operand(node.left) or _is_text_operand(node.right)):
            yield Site(EditKind.ARITHMETIC, node)
    elif isinstance(node, ast.AugAssign) and type(node.op) in ARITHMETIC_FLIPS:
        yield Site(EditKind.ARITHMETIC, node)
    elif isinstance(node, ast.Call):
        if function_name(node) in FUNCTION_SWAPS:
            yield Site(EditKind.FUNCTION_SWAP, node)
        if _is_sort_call(node):
            yield Site(EditKind.SORT_ORDER, node)
        if is_random_choice(node):
            yield Site(EditKind.CHOICE, node)
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and constant_index(node) is not None:
        yield Site(EditKind.INDEX, node)
    elif isinstance(node, (ast.If, ast.IfExp)):
        yield Site(EditKind.NEGATION, node)


def _base_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def reads_and_writes(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    """The names a statement reads and the names it may change (assigned, an attribute or item
    set, a method called on it: `x.append(1)` counts as changing x)."""
    reads: set[str] = set()
    writes: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            (reads if isinstance(node.ctx, ast.Load) else writes).add(node.id)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
            writes.update(n for n in [_base_name(node)] if n)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            writes.update(n for n in [_base_name(node.func.value)] if n)
        elif isinstance(node, ast.AugAssign):
            reads.update(n for n in [_base_name(node.target)] if n)
    return reads, writes


def _independent(a: ast.stmt, b: ast.stmt) -> bool:
    if not (isinstance(a, _MOVABLE) and isinstance(b, _MOVABLE)):
        return False
    if any(isinstance(n, _JUMPS) for s in (a, b) for n in ast.walk(s)):
        return False
    reads_a, writes_a = reads_and_writes(a)
    reads_b, writes_b = reads_and_writes(b)
    return not (writes_a & (reads_b | writes_b) or writes_b & reads_a)


def swappable_pairs(tree: ast.Module) -> list[tuple[ast.stmt, ast.stmt]]:
    """Adjacent statements of one body that share no variable one of them changes, each on lines
    of its own (a `;`-joined line is left alone), the docstring excepted."""
    pairs = []
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt):
                continue
            for i in range(len(body) - 1):
                a, b = body[i], body[i + 1]
                before = body[i - 1].end_lineno if i else 0
                after = body[i + 2].lineno if i + 2 < len(body) else None
                own_lines = (
                    before is not None
                    and a.end_lineno is not None
                    and b.end_lineno is not None
                    and before < a.lineno
                    and a.end_lineno < b.lineno
                    and (after is None or b.end_lineno < after)
                )
                is_docstring = i == 0 and isinstance(a, ast.Expr) and isinstance(a.value, ast.Constant)
                if own_lines and not is_docstring and _independent(a, b):
                    pairs.append((a, b))
    return pairs
