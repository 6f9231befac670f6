"""Turn a model's answer into a child program: SEARCH/REPLACE blocks or a full rewrite.

Pure functions. Every way an answer can fail to make a valid child raises `EditRejected` with a
reason that is stored and shown to the model in the next prompt; nothing fails silently.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass

from evolve.blocks import BlockError, check_outside_unchanged, find_blocks, replace_bodies, split


class EditRejected(ValueError):
    pass


@dataclass(frozen=True)
class SearchReplace:
    search: str
    replace: str


_BLOCK = re.compile(
    r"^[ \t]*<{5,9}[ \t]*SEARCH[ \t]*\n(.*?)^[ \t]*={5,9}[ \t]*\n(.*?)^[ \t]*>{5,9}[ \t]*REPLACE[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
# A fence of three or more backticks, closed by a fence of the same length on its own line.
_FENCE = re.compile(r"^[ \t]*(`{3,})[\w+-]*[ \t]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)


def parse_search_replace(answer: str) -> list[SearchReplace]:
    answer = answer.replace("\r\n", "\n")  # some servers answer with Windows line endings
    return [SearchReplace(m.group(1), m.group(2)) for m in _BLOCK.finditer(answer)]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _tolerant_matches(lines: list[str], search: list[str]) -> list[int]:
    """Start indices where `search` matches `lines` ignoring leading/trailing whitespace."""
    target = [s.strip() for s in search]
    stripped = [line.strip() for line in lines]
    n = len(target)
    return [i for i in range(len(lines) - n + 1) if stripped[i : i + n] == target]


def _reindent(replace_lines: list[str], search_first: str, code_first: str) -> list[str]:
    have, want = _indent(search_first), _indent(code_first)
    if have == want:
        return replace_lines
    out = []
    for line in replace_lines:
        if line.strip() and line.startswith(have):
            out.append(want + line[len(have) :])
        elif line.strip():
            out.append(want + line.lstrip())
        else:
            out.append(line)
    return out


def _whole_line_matches(code: str, search: str) -> list[int]:
    """Offsets where `search` occurs starting at a line start and ending at a line end. A match
    inside a line (`max = 1` inside `beta_max = 1`) does not count."""
    found, at = [], code.find(search)
    while at != -1:
        starts_line = at == 0 or code[at - 1] == "\n"
        end = at + len(search)
        ends_line = search.endswith("\n") or end == len(code) or code[end] == "\n"
        if starts_line and ends_line:
            found.append(at)
        at = code.find(search, at + 1)
    return found


def apply_one(code: str, edit: SearchReplace, index: int) -> str:
    search = edit.search
    if not search.strip():
        raise EditRejected(f"SEARCH block {index} is empty")
    exact = _whole_line_matches(code, search)
    if len(exact) == 1:
        at = exact[0]
        return code[:at] + edit.replace + code[at + len(search) :]
    if len(exact) > 1:
        raise EditRejected(f"SEARCH block {index} matches {len(exact)} places; include more context to make it unique")
    # Not found verbatim as whole lines: compare line by line, ignoring indentation and trailing
    # spaces, and re-indent the replacement to where it lands.
    lines = code.splitlines(keepends=True)
    search_lines = search.splitlines(keepends=True)
    while search_lines and not search_lines[-1].strip():
        search_lines.pop()
    while search_lines and not search_lines[0].strip():
        search_lines.pop(0)
    matches = _tolerant_matches(lines, search_lines)
    if not matches:
        first = search_lines[0].strip()[:60] if search_lines else ""
        raise EditRejected(f"SEARCH block {index} matches nothing in the program (first line: {first!r})")
    if len(matches) > 1:
        raise EditRejected(
            f"SEARCH block {index} matches {len(matches)} places; include more context to make it unique"
        )
    start = matches[0]
    replace_lines = edit.replace.splitlines(keepends=True)
    replace_lines = _reindent(replace_lines, search_lines[0], lines[start])
    if replace_lines and not replace_lines[-1].endswith("\n"):
        replace_lines[-1] += "\n"
    return "".join(lines[:start] + replace_lines + lines[start + len(search_lines) :])


def apply_diff(parent: str, answer: str) -> str:
    edits = parse_search_replace(answer)
    if not edits:
        raise EditRejected("the answer has no SEARCH/REPLACE block")
    child = parent
    for i, edit in enumerate(edits, 1):
        child = apply_one(child, edit, i)
    return _finish(parent, child)


def apply_full_rewrite(parent: str, answer: str) -> str:
    fences = [body for _, body in _FENCE.findall(answer.replace("\r\n", "\n"))]
    if not fences:
        raise EditRejected("the answer has no fenced code block")
    code = max(fences, key=len)
    _, parent_bodies = split(parent)
    try:
        has_markers = bool(find_blocks(code))
    except BlockError as exc:
        raise EditRejected(f"the rewrite has broken EVOLVE-BLOCK markers: {exc}") from None
    if has_markers:
        child = code
    elif len(parent_bodies) == 1:
        if _carries_frozen_code(parent, code):
            raise EditRejected(
                "the rewrite has the code around the EVOLVE-BLOCK but not its markers: "
                "answer with the whole program, markers included, or the block's body alone"
            )
        child = replace_bodies(parent, [code])  # the answer is the new body of the only block
    else:
        raise EditRejected("the rewrite has no EVOLVE-BLOCK markers and the program has several blocks")
    return _finish(parent, child)


def _carries_frozen_code(parent: str, code: str) -> bool:
    """Whether a marker-less answer repeats lines from outside the block (it is a whole program
    with its markers dropped, not a block body)."""
    outside, bodies = split(parent)
    in_blocks = {line.strip() for body in bodies for line in body.splitlines()}
    frozen = {
        line.strip()
        for segment in outside
        for line in segment.splitlines()
        if len(line.strip()) >= 8 and line.strip() not in in_blocks and "EVOLVE-BLOCK" not in line
    }
    # A body may repeat an import; a whole program repeats the frozen definitions too.
    repeated = {line.strip() for line in code.splitlines() if line.strip() in frozen}
    return len(repeated) >= 2 and any(not line.startswith(("import ", "from ")) for line in repeated)


def _finish(parent: str, child: str) -> str:
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
            return ast.dump(ast.parse(code))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass  # not parseable here (or nested beyond the parser's depth): compare as text
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def check_child(parent: str, child: str, language: str) -> None:
    """Reject, before any sandbox runs, a Python child that does not parse or that changes only
    comments and formatting (a no-op the model keeps proposing)."""
    if language != "python":
        return
    try:
        ast.parse(child)
    except SyntaxError as exc:
        raise EditRejected(f"the child is not valid Python: line {exc.lineno}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise EditRejected("the child is nested too deeply for Python's parser") from None
    if canonical_form(child, language) == canonical_form(parent, language):
        raise EditRejected("the edit changes only comments or formatting, not the program")


def unified_diff(parent: str, child: str) -> str:
    return "".join(
        difflib.unified_diff(parent.splitlines(keepends=True), child.splitlines(keepends=True), "parent", "child", n=2)
    )
