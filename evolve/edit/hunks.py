"""Unified diffs in a model's answer (`---`/`+++` headers, `@@` hunks), applied by their context.

Pure functions. Models count lines badly, so a hunk is placed by its text, the way a SEARCH/
REPLACE block is (`evolve.edit.search_replace.apply_one`: verbatim, then ignoring indentation
and trailing spaces, then blank lines); the `@@ -N` line number only breaks a tie between
several places, and places a hunk that only adds lines. No library applies hunks with this tolerance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evolve.edit.errors import EditRejected
from evolve.edit.fences import find_fences, outside_fences
from evolve.edit.search_replace import SearchReplace, apply_one

_AT = re.compile(r"^@@+ ?-(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? ?@@")
_DIFF_INFO = {"diff", "patch", "udiff"}


@dataclass(frozen=True)
class Hunk:
    old: tuple[str, ...]  # the lines it expects: context and removed
    new: tuple[str, ...]  # the lines it leaves: context and added
    old_start: int | None = None  # 1-based, from the @@ header, when it has one
    old_count: int | None = None

    @property
    def changes(self) -> bool:
        return self.old != self.new


class _Builder:
    def __init__(self, old_start: int | None = None, old_count: int | None = None, new_count: int | None = None):
        self.ops: list[tuple[str, str]] = []
        self.old_start, self.old_count, self.new_count = old_start, old_count, new_count

    def complete(self) -> bool:
        """Whether the header's line counts are all there (models get them wrong: a hint only)."""
        if self.old_count is None or self.new_count is None:
            return False
        old = sum(tag != "+" for tag, _ in self.ops)
        new = sum(tag != "-" for tag, _ in self.ops)
        return old >= self.old_count and new >= self.new_count

    def hunk(self) -> Hunk | None:
        ops = list(self.ops)
        while ops and ops[-1] == (" ", ""):  # the blank line between a diff and the prose after it
            ops.pop()
        if not any(tag != " " for tag, _ in ops):
            return None
        old = tuple(text for tag, text in ops if tag != "+")
        new = tuple(text for tag, text in ops if tag != "-")
        return Hunk(old, new, self.old_start, self.old_count)


def parse_hunks(text: str, fenced: bool, headerless: bool = False) -> list[Hunk]:
    """The hunks in `text`. Inside a fence every line up to its end belongs to the diff (a context
    line that lost its leading space counts as context); outside one, a hunk ends at the first
    line that is not a diff line. `headerless`: the text is a diff without `@@` or `---` lines."""
    lines = text.replace("\r\n", "\n").splitlines()
    hunks: list[Hunk] = []
    current: _Builder | None = _Builder() if headerless else None

    def close() -> None:
        if current is not None and (hunk := current.hunk()) is not None:
            hunks.append(hunk)

    i = 0
    while i < len(lines):
        line = lines[i]
        header = _AT.match(line)
        if line.startswith("@@"):
            close()
            current = _Builder(
                int(header.group(1)) if header else None,
                _count(header, 2),
                _count(header, 4),
            )
        elif line.startswith("---") and i + 1 < len(lines) and lines[i + 1].startswith("+++"):
            close()
            current = _Builder()  # a diff whose hunks may follow without an @@ line
            i += 1
        elif current is not None:
            if line[:1] in (" ", "-", "+"):
                current.ops.append((line[:1], line[1:]))
            elif line.startswith("\\"):  # "\ No newline at end of file"
                pass
            elif not line.strip() and not fenced and current.complete():
                close()  # a blank line after a whole hunk: what follows is prose (a "- point" list, say)
                current = None
            elif not line.strip():
                current.ops.append((" ", ""))
            elif fenced:
                current.ops.append((" ", line))
            else:
                close()
                current = None
        i += 1
    close()
    return hunks


def _count(header: re.Match[str] | None, group: int) -> int | None:
    """A count of an @@ header; absent means one line, as in `@@ -5 +5 @@`."""
    if header is None:
        return None
    return int(header.group(group)) if header.group(group) is not None else 1


def _is_headerless_diff(body: str) -> bool:
    lines = [line for line in body.splitlines() if line.strip()]
    return (
        bool(lines)
        and all(line[:1] in (" ", "-", "+", "\\") for line in lines)
        and any(line[:1] in ("-", "+") for line in lines)
    )


def find_hunks(answer: str, skip_fence=lambda body: False) -> list[Hunk]:
    """Every hunk of the answer, in order: those in fences (a ```diff fence may hold bare -/+
    lines), then those written outside any fence. `skip_fence(body)` leaves a fence out."""
    hunks: list[Hunk] = []
    for fence in find_fences(answer):
        if skip_fence(fence.body):
            continue
        has_header = any(
            line.startswith("@@") or (line.startswith("---") and nxt.startswith("+++"))
            for line, nxt in zip(fence.body.splitlines(), [*fence.body.splitlines()[1:], ""])
        )
        if has_header:
            hunks += parse_hunks(fence.body, fenced=True)
        elif fence.info in _DIFF_INFO and _is_headerless_diff(fence.body):
            hunks += parse_hunks(fence.body, fenced=True, headerless=True)
    return hunks + parse_hunks(outside_fences(answer), fenced=False)


def _lines(text: tuple[str, ...]) -> str:
    return "".join(line + "\n" for line in text)


def apply_hunks(parent: str, hunks: list[Hunk]) -> str:
    """The hunks applied in order; not yet checked. Each hunk's line number is shifted by what
    the hunks before it added or removed."""
    child, shift = parent, 0
    for i, hunk in enumerate(hunks, 1):
        label = f"hunk {i}"
        before = child.count("\n")
        if any(line.strip() for line in hunk.old):
            near = hunk.old_start - 1 + shift if hunk.old_start else None
            child = apply_one(child, SearchReplace(_lines(hunk.old), _lines(hunk.new)), label, near)
        else:
            child = _insert(child, hunk, label, shift)
        shift += child.count("\n") - before
    return child


def _insert(code: str, hunk: Hunk, label: str, shift: int) -> str:
    """A hunk with no context and nothing removed: its lines go after line `-N` (`-N,0`)."""
    if hunk.old_start is None:
        raise EditRejected(f"{label} only adds lines, with no context and no line number to place them")
    lines = code.splitlines(keepends=True)
    # "-N,0" inserts after line N; "-N" (a count of one, or none given) before it.
    at = hunk.old_start + shift if hunk.old_count == 0 else hunk.old_start - 1 + shift
    if not 0 <= at <= len(lines):
        raise EditRejected(f"{label} adds lines at line {hunk.old_start}, and the program has {len(lines)} lines")
    return "".join([*lines[:at], _lines(hunk.new), *lines[at:]])
