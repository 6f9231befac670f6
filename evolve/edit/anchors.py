"""Anchor salvage: a whole program that changed code outside the blocks, read by its anchors.

Pure functions, Python programs. Small models asked for a rewrite often write the whole program
and touch its frozen code on the way: a docstring reworded, a frozen function "improved", a
constant changed. Such an answer cannot be taken whole, but its new blocks are clear: each one
lies between the parent's frozen lines just before the block and just after it (its anchors).

The rule (FULL_PROGRAM_ANCHORED), for answers with or without EVOLVE-BLOCK markers:
  - the child keeps the parent's frozen text exactly; only the block bodies come from the answer;
  - a block's before-anchor is the last code line of the frozen part above it, its after-anchor
    the first code line of the frozen part below it; each is matched in the answer with spaces
    and comments ignored (comment lines, markers included, are skipped), and grows by one more
    frozen line (up to ANCHOR_LINES) while it matches more than once;
  - the new body is the answer's text between the two anchors (marker lines and surrounding
    blank lines dropped); a block at the very start or end of the program has no anchor on that
    side and runs to the start or end of the answer;
  - an import the answer added elsewhere outside the bodies (where a model puts imports: at the
    top) goes at the start of the first top-level block, so the new code still finds it;
  - accepted only when every anchor is found exactly once, in order, the child parses, and every
    name the frozen code uses from the blocks is still defined; otherwise the answer's existing
    rejection stands;
  - an answer whose blocks, so read, are the parent's own is rejected as changing nothing inside
    the blocks, its frozen change named after (`blocks_unchanged`): a small model shown that
    reason in its next prompt learns what it did, not only which import it touched.
"""

from __future__ import annotations

import ast
import re

from evolve.edit.blocks import BlockError, find_blocks, is_marker, join, split
from evolve.edit.child import parse_python

ANCHOR_LINES = 3  # the most frozen lines an anchor grows to while it matches more than once
_IMPORT = re.compile(r"^(?:import [\w.]|from [\w.]+ import )")


def code_key(line: str) -> str:
    """A line as anchors compare it: without its comment and without any whitespace ("" for a
    blank line, a comment or a marker). A `#` inside a string literal is kept."""
    quote: str | None = None
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#":
            line = line[:i]
            break
    return "".join(line.split())


def _keys(segment: str) -> list[str]:
    return [key for line in segment.splitlines() if (key := code_key(line))]


def _anchor(keys: list[str], frozen: list[str], begin: int, before: bool) -> tuple[int, int] | None:
    """The anchor of `frozen` lines in keys[begin:] as (first, one past last) key index: the
    frozen lines nearest the block (its last ones `before` it, else its first), as few as match once."""
    for width in range(1, min(ANCHOR_LINES, len(frozen)) + 1):
        run = frozen[-width:] if before else frozen[:width]
        hits = [k for k in range(begin, len(keys) - width + 1) if keys[k : k + width] == run]
        if not hits:
            return None  # the nearest frozen line is not there: no anchor to trust
        if len(hits) == 1:
            return hits[0], hits[0] + width
    return None


def _spans(parent_outside: list[str], keys: list[str]) -> list[tuple[int, int]] | None:
    """Each block's (first, one past last) key index in the answer, between its anchors."""
    spans: list[tuple[int, int]] = []
    cursor, count = 0, len(parent_outside) - 1
    for k in range(count):
        above, below = _keys(parent_outside[k]), _keys(parent_outside[k + 1])
        if k == 0 and _absent(above, keys):
            start = 0  # the answer starts at the block: the head left out, not changed
        elif above and (found := _anchor(keys, above, cursor, before=True)) is not None:
            start = found[1]
        else:
            return None  # a missing anchor, or two blocks with no code between them
        if k == count - 1 and _absent(below, keys):
            end = len(keys)  # the answer ends with the block: the tail left out
        elif below and (found := _anchor(keys, below, start, before=False)) is not None:
            end = found[0]
        else:
            return None
        spans.append((start, end))
        cursor = end
    return spans


def _absent(frozen: list[str], keys: list[str]) -> bool:
    """Whether none of a frozen segment's code lines is in the answer (a segment with no code is
    absent too): the answer left that end of the program out rather than changing it."""
    present = set(keys)
    return not any(key in present for key in frozen)


def _body(lines: list[str], first: int, stop: int) -> str:
    body = [line for line in lines[first:stop] if not is_marker(line)]
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return "".join(line.rstrip() + "\n" for line in body)


def _names_used_from_blocks(parent: str) -> frozenset[str] | None:
    """The top-level names the parent's blocks define that its frozen code uses."""
    try:
        tree, blocks = parse_python(parent), find_blocks(parent)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    defined: set[str] = set()
    used: set[str] = set()
    for node in tree.body:
        inside = any(b.start < node.lineno - 1 < b.end for b in blocks)
        if inside:
            defined |= _defined(node)
        else:
            used |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return frozenset(defined & used)


def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _added_imports(parent: str, lines: list[str], inside: set[int]) -> list[str]:
    """Top-level import lines of the answer, outside the bodies, that the parent lacks."""
    known = {code_key(line) for line in parent.splitlines()}
    return [
        line.rstrip() + "\n"
        for i, line in enumerate(lines)
        if i not in inside and _IMPORT.match(line) and code_key(line) not in known
    ]


def _read_bodies(parent: str, code: str) -> tuple[list[str], list[tuple[int, int]]] | None:
    """The block bodies an answer holds between the parent's anchors, with their line spans in
    the answer; None when an anchor is missing or ambiguous."""
    try:
        parent_outside, parent_bodies = split(parent)
    except BlockError:
        return None
    lines = code.splitlines()
    keyed = [i for i, line in enumerate(lines) if code_key(line)]
    keys = [code_key(lines[i]) for i in keyed]
    spans = _spans(parent_outside, keys) if parent_bodies else None
    if spans is None:
        return None
    line_spans = [
        (keyed[start - 1] + 1 if start > 0 else 0, keyed[end] if end < len(keyed) else len(lines))
        for start, end in spans
    ]
    return [_body(lines, first, stop) for first, stop in line_spans], line_spans


def _parents_own(parent: str, bodies: list[str]) -> bool:
    return [b.strip() for b in bodies] == [b.strip() for b in split(parent)[1]]


def blocks_unchanged(parent: str, code: str) -> bool:
    """Whether the answer's blocks, read by their anchors, are the parent's own: the answer
    changed (or left out) only code outside them."""
    read = _read_bodies(parent, code)
    return read is not None and _parents_own(parent, read[0])


def anchored_child(parent: str, code: str) -> str | None:
    """The child an answer's whole program makes when read by its anchors (see the module's
    docstring); None when an anchor is missing or ambiguous, or the child does not hold up."""
    read = _read_bodies(parent, code)
    if read is None or _parents_own(parent, read[0]):
        return None  # no anchors, or only frozen code changed: nothing to salvage
    bodies, line_spans = read
    lines = code.splitlines()
    parent_outside = split(parent)[0]
    inside = {i for first, stop in line_spans for i in range(first, stop)}
    imports = _added_imports(parent, lines, inside)
    first_marker = parent.splitlines()[find_blocks(parent)[0].start]
    if imports and not first_marker[: len(first_marker) - len(first_marker.lstrip())]:
        bodies[0] = "".join(imports) + "\n" + bodies[0]
    child = join(parent_outside, bodies)
    return child if _holds_up(parent, child) else None


def _holds_up(parent: str, child: str) -> bool:
    """The child parses and still defines, at top level, every name the frozen code takes from the blocks."""
    needed = _names_used_from_blocks(parent)
    try:
        tree = parse_python(child)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    defined = set().union(*(_defined(node) for node in tree.body))
    return needed is not None and needed <= defined
