"""Salvage an answer off the format when its intent is clear (Python programs).

Pure functions. Small models often answer almost right: a whole program that also touched a
comment or a docstring outside the blocks, a function without the block's markers, a SEARCH
that matches nothing above a complete new version of a function. Each rule here turns such an
answer into the child it clearly meant, and never into a child that changes code outside the
blocks: the child keeps the parent's frozen text, and `finish_child` checks it as any other.

The rules, each recorded as its own `AnswerForm` (so a run's report counts them):
  same_outside        a program whose frozen part differs from the parent's only in comments,
                      docstrings, blank lines or formatting (FULL_PROGRAM_SALVAGED)
  place_definitions   top-level definitions (functions, classes, constants) placed over the
                      ones of the same name, all in one block (LOOSE_CODE_PLACED)
  apply_salvaging     SEARCH/REPLACE edits where a SEARCH that matches nothing is followed by
                      a complete new version of definitions of one block (SEARCH_MISS_PLACED)
  anchored_child      (evolve/edit/anchors.py) a whole program, with or without markers, that
                      changed code outside the blocks: each block's new body is the answer's
                      text between its anchors, the frozen code lines just before and just
                      after the block, matched with spaces and comments ignored and grown (up
                      to 3 lines) until each matches once; the parent's frozen text is kept;
                      accepted only when every anchor is found once and in order, a block
                      changed, the child parses and still defines every name the frozen code
                      takes from the blocks; tried last, where every rule above failed
                      (FULL_PROGRAM_ANCHORED)
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

from evolve.edit.blocks import BlockError, find_blocks
from evolve.edit.child import parse_python
from evolve.edit.errors import SearchMissed
from evolve.edit.search_replace import SearchReplace, apply_one
from evolve.kinds import AnswerForm

# A SEARCH that missed must have quoted most of what its REPLACE redefines (a typo in a copy),
# and the REPLACE must be no stub of it: the share of lines, each way.
_QUOTED = 0.8
_COMPLETE = 0.5


def _parse(code: str) -> ast.Module | None:
    try:
        return parse_python(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _without_docstrings(tree: ast.Module) -> str:
    """The tree as a string, string statements (docstrings) left out: comments, blank lines
    and formatting are never in a tree."""

    class Strip(ast.NodeTransformer):
        def generic_visit(self, node: ast.AST) -> ast.AST:
            super().generic_visit(node)
            body = getattr(node, "body", None)
            if isinstance(body, list):
                kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
                node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]
            return node

    return ast.dump(Strip().visit(tree))


def same_outside(written: str, kept: str) -> bool:
    """Whether two Python programs with the same block bodies (`written` with the answer's frozen
    text, `kept` with the parent's) differ only in comments, docstrings, blank lines or
    formatting: then the answer's blocks may go into the parent's frozen text."""
    a, b = _parse(written), _parse(kept)
    return a is not None and b is not None and _without_docstrings(a) == _without_docstrings(b)


@dataclass(frozen=True)
class _Definition:
    names: frozenset[str]
    start: int  # 0-based first line, decorators included
    end: int  # one past the last line

    def lines(self) -> int:
        return self.end - self.start


def _names(node: ast.stmt) -> frozenset[str] | None:
    """What a top-level statement defines; None for anything else (a call, a loop, an import)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return frozenset([node.name])
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    names: set[str] = set()
    for target in targets:
        for part in target.elts if isinstance(target, ast.Tuple) else [target]:
            if not isinstance(part, ast.Name):
                return None
            names.add(part.id)
    return frozenset(names) or None


def _definition(node: ast.stmt, names: frozenset[str]) -> _Definition:
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)]) - 1
    return _Definition(names, start, node.end_lineno or node.lineno)


@dataclass(frozen=True)
class _Code:
    """Loose code read as definitions: what it defines, and its imports."""

    text: str
    definitions: tuple[_Definition, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(d.names for d in self.definitions))


def _read_code(code: str) -> _Code | None:
    """Code that is only definitions, imports and docstrings (else None: not loose definitions)."""
    text = textwrap.dedent(code).strip("\n") + "\n"
    tree = _parse(text)
    if tree is None:
        return None
    definitions = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        ):
            continue
        names = _names(node)
        if names is None:
            return None
        definitions.append(_definition(node, names))
    return _Code(text, tuple(definitions)) if definitions else None


def _parent_definitions(parent: str) -> tuple[list[list[_Definition]], frozenset[str]] | None:
    """Each block's top-level definitions, and the names defined outside the blocks."""
    tree = _parse(parent)
    try:
        blocks = find_blocks(parent)
    except BlockError:
        return None
    if tree is None or not blocks:
        return None
    inside: list[list[_Definition]] = [[] for _ in blocks]
    frozen: set[str] = set()
    for node in tree.body:
        names = _names(node) or frozenset()
        definition = _definition(node, names)
        home = next((k for k, b in enumerate(blocks) if b.start < definition.start and definition.end <= b.end), None)
        if home is None:
            frozen |= names
        elif names:
            inside[home].append(definition)
    return inside, frozenset(frozen)


@dataclass(frozen=True)
class Placement:
    child: str
    whole: bool  # the code redefines every definition of its block
    replaced: tuple[_Definition, ...]  # the parent's definitions it replaces, in order


def place_definitions(parent: str, code: str) -> Placement | None:
    """The child with loose code's definitions put over the parent's definitions of the same
    names, when they all lie in one block (new helpers join them there). None when the code is
    not definitions alone, redefines anything outside the blocks, spans two blocks or none."""
    loose, found = _read_code(code), _parent_definitions(parent)
    if loose is None or found is None:
        return None
    inside, frozen = found
    if loose.names & frozen:
        return None
    homes = [k for k, defs in enumerate(inside) if any(d.names & loose.names for d in defs)]
    if len(homes) != 1:
        return None
    replaced = tuple(d for d in inside[homes[0]] if d.names & loose.names)
    if any(not d.names <= loose.names for d in replaced):  # `a, b = ...` half redefined
        return None
    lines = parent.splitlines(keepends=True)
    first, gone = replaced[0], {line for d in replaced[1:] for line in range(d.start, d.end)}
    kept = [line for i, line in enumerate(lines[first.end :], first.end) if i not in gone]
    child = "".join([*lines[: first.start], loose.text, *kept])
    whole = all(d.names <= loose.names for d in inside[homes[0]])
    return Placement(child, whole, replaced)


def _lines_to_copy(parent: str, replace: str) -> str | None:
    """The parent's exact text of the definitions a REPLACE redefines, when they lie in one block."""
    loose, found = _read_code(replace), _parent_definitions(parent)
    if loose is None or found is None:
        return None
    homes = [[d for d in defs if d.names & loose.names] for defs in found[0]]
    hit = [defs for defs in homes if defs]
    if len(hit) != 1:
        return None
    lines = parent.splitlines(keepends=True)
    return "".join(lines[hit[0][0].start : hit[0][-1].end])


def _clear_rewrite(edit: SearchReplace, placement: Placement) -> bool:
    """Whether a missed SEARCH and its REPLACE clearly rewrite what the placement replaces: the
    whole block redefined, or most of the definitions quoted; and the REPLACE no stub of them."""
    meant = sum(d.lines() for d in placement.replaced)
    quoted = sum(1 for line in edit.search.splitlines() if line.strip())
    written = sum(1 for line in edit.replace.splitlines() if line.strip())
    return (placement.whole or quoted >= _QUOTED * meant) and written >= _COMPLETE * meant


def apply_salvaging(parent: str, edits: list[SearchReplace]) -> tuple[AnswerForm, str]:
    """The edits applied in order, as `apply_search_replace`; a SEARCH that matches nothing but
    whose REPLACE clearly rewrites definitions of one block is placed over them instead. A miss
    that cannot be placed is raised with the exact lines it meant (`lines_to_copy`), if known."""
    child, form = parent, AnswerForm.SEARCH_REPLACE
    for i, edit in enumerate(edits, 1):
        try:
            child = apply_one(child, edit, f"SEARCH block {i}")
        except SearchMissed as missed:
            placement = place_definitions(child, edit.replace)
            if placement is None or not _clear_rewrite(edit, placement):
                raise SearchMissed(str(missed), _lines_to_copy(child, edit.replace)) from None
            child, form = placement.child, AnswerForm.SEARCH_MISS_PLACED
    return form, child
