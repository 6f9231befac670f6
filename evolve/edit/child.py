"""The child an edit makes: the checks every child passes before any sandbox runs, what makes two
programs the same program, and the diff shown between a parent and its child.

Pure functions. A check that fails raises `EditRejected` naming what failed (which frozen line
changed, which line does not parse); nothing fails silently.
"""

from __future__ import annotations

import ast
import difflib
import threading

from evolve.edit.blocks import BlockError, check_outside_unchanged
from evolve.edit.errors import EditRejected

# CPython 3.11 builds ast objects with one recursion counter per interpreter, not per thread: two
# threads parsing at once (the mutator pool runs several calls in one process) can raise
# "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905). One at a time.
_PARSING = threading.Lock()


def parse_python(code: str) -> ast.Module:
    """ast.parse, one thread at a time; raises what ast.parse raises."""
    with _PARSING:
        return ast.parse(code)


def check_frozen(parent: str, child: str) -> str:
    """The child, when it keeps everything outside the EVOLVE-BLOCKs and is not the parent."""
    try:
        check_outside_unchanged(parent, child)
    except BlockError as exc:
        raise EditRejected(str(exc)) from None
    if child.strip() == parent.strip():
        raise EditRejected("the edit changes nothing (the child is identical to its parent)")
    return child


def canonical_form(code: str, language: str) -> str:
    """What makes two programs the same program: for Python, the syntax tree (comments, blank
    lines and formatting do not count); for other languages, the lines without trailing spaces."""
    if language == "python":
        try:
            return ast.dump(parse_python(code))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass  # not parseable here (or nested beyond the parser's depth): compare as text
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def check_child(parent: str, child: str, language: str) -> None:
    """Reject, before any sandbox runs, a Python child that does not parse or that changes only
    comments and formatting (a no-op the model keeps proposing)."""
    if language != "python":
        return
    try:
        parse_python(child)
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        shown = f" ({line[:80]!r})" if line else ""
        raise EditRejected(f"the child is not valid Python: line {exc.lineno}: {exc.msg}{shown}") from None
    except (RecursionError, MemoryError):
        raise EditRejected("the child is nested too deeply for Python's parser") from None
    if canonical_form(child, language) == canonical_form(parent, language):
        raise EditRejected("the edit changes only comments or formatting, not the program")


def finish_child(parent: str, child: str, language: str) -> str:
    """The child, when it passes every check: frozen code kept, not a no-op, parses (Python)."""
    check_frozen(parent, child)
    check_child(parent, child, language)
    return child


def unified_diff(parent: str, child: str) -> str:
    return "".join(
        difflib.unified_diff(parent.splitlines(keepends=True), child.splitlines(keepends=True), "parent", "child", n=2)
    )
