"""EVOLVE-BLOCK regions: where they are, and whether a child changed anything outside them.

A marker is a comment line whose text starts with `EVOLVE-BLOCK-START` or `EVOLVE-BLOCK-END`,
in any of the usual comment syntaxes (`#`, `//`, `/*`, `--`, `;`, `%`, `<!--`, `(*`, `{-`). A
docstring or string that merely mentions the words is not a marker. Pure functions, no I/O.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

START = "EVOLVE-BLOCK-START"
END = "EVOLVE-BLOCK-END"
_MARKER = re.compile(r"^\s*(?:#|//|/\*|--|;|%|<!--|\(\*|\{-)\s*(EVOLVE-BLOCK-START|EVOLVE-BLOCK-END)\b")


class BlockError(ValueError):
    pass


@dataclass(frozen=True)
class Block:
    start: int  # index of the START marker line
    end: int  # index of the END marker line


def find_blocks(code: str) -> list[Block]:
    lines = code.splitlines()
    blocks: list[Block] = []
    open_at: int | None = None
    for i, line in enumerate(lines):
        marker = _MARKER.match(line)
        kind = marker.group(1) if marker else None
        if kind == START:
            if open_at is not None:
                raise BlockError(f"line {i + 1}: {START} inside an open block (opened at line {open_at + 1})")
            open_at = i
        elif kind == END:
            if open_at is None:
                raise BlockError(f"line {i + 1}: {END} without a matching {START}")
            blocks.append(Block(open_at, i))
            open_at = None
    if open_at is not None:
        raise BlockError(f"line {open_at + 1}: {START} is never closed by {END}")
    return blocks


def split(code: str) -> tuple[list[str], list[str]]:
    """Return (outside, inside): the frozen segments (markers included) and the block bodies.

    `outside` has one more element than `inside`; interleaving them gives the code back.
    """
    lines = code.splitlines(keepends=True)
    blocks = find_blocks(code)
    outside, inside, cursor = [], [], 0
    for b in blocks:
        outside.append("".join(lines[cursor : b.start + 1]))
        inside.append("".join(lines[b.start + 1 : b.end]))
        cursor = b.end
    outside.append("".join(lines[cursor:]))
    return outside, inside


def join(outside: list[str], inside: list[str]) -> str:
    parts = []
    for i, body in enumerate(inside):
        parts.append(outside[i])
        if body and not body.endswith("\n"):
            body += "\n"
        parts.append(body)
    parts.append(outside[-1])
    return "".join(parts)


def block_bodies(code: str) -> list[str]:
    return split(code)[1]


def is_marker(line: str) -> bool:
    """Whether the line is an EVOLVE-BLOCK-START or -END marker comment."""
    return _MARKER.match(line) is not None


def _segment_starts(code: str) -> list[int]:
    """The 0-based line where each frozen segment of `split(code)` begins."""
    return [0, *(b.end for b in find_blocks(code))]


def _frozen_lines(segment: str, ignore_blank: bool) -> list[tuple[int, str]]:
    """A frozen segment as compared, each line with its offset: trailing spaces and trailing blank
    lines do not count (nor any blank line, with `ignore_blank`)."""
    lines = [(i, line.rstrip()) for i, line in enumerate(segment.splitlines())]
    while lines and not lines[-1][1]:
        lines.pop()
    return [(i, text) for i, text in lines if text or not ignore_blank]


def describe_frozen_change(
    parent_segment: str, child_segment: str, first_line: int, ignore_blank: bool = False
) -> str | None:
    """The first line that differs between two versions of a frozen segment, named by its line
    number in the parent (`first_line` is the segment's 0-based first line); None when equal."""
    old, new = _frozen_lines(parent_segment, ignore_blank), _frozen_lines(child_segment, ignore_blank)
    old_text, new_text = [text for _, text in old], [text for _, text in new]
    if old_text == new_text:
        return None
    opcodes = difflib.SequenceMatcher(None, old_text, new_text, autojunk=False).get_opcodes()
    tag, i1, _i2, j1, _j2 = next(op for op in opcodes if op[0] != "equal")
    if i1 < len(old):
        line = first_line + old[i1][0] + 1
    else:
        line = first_line + (old[-1][0] + 2 if old else 1)
    if tag == "replace":
        return f"line {line} {old_text[i1]!r} became {new_text[j1]!r}"
    if tag == "delete":
        return f"line {line} {old_text[i1]!r} was removed"
    return (
        f"{new_text[j1]!r} was added before line {line}"
        if i1 < len(old)
        else f"{new_text[j1]!r} was added after line {line - 1}"
    )


def check_outside_unchanged(parent: str, child: str) -> None:
    """Raise BlockError when the child edits, adds or removes anything outside the blocks; the
    message names the first line that changed, by its number in the parent."""
    try:
        parent_out, _ = split(parent)
        child_out, _ = split(child)
    except BlockError as exc:
        raise BlockError(f"the edit broke the EVOLVE-BLOCK markers: {exc}") from None
    if len(parent_out) != len(child_out):
        raise BlockError(
            f"the edit added or removed EVOLVE-BLOCK markers (the program has {len(parent_out) - 1} "
            f"blocks, the child {len(child_out) - 1})"
        )
    for segment, (a, b, start) in enumerate(zip(parent_out, child_out, _segment_starts(parent)), 1):
        change = describe_frozen_change(a, b, start)
        if change:
            raise BlockError(f"the edit changes code outside the EVOLVE-BLOCKs (frozen region {segment}): {change}")


def replace_bodies(code: str, bodies: list[str]) -> str:
    outside, inside = split(code)
    if len(bodies) != len(inside):
        raise BlockError(f"expected {len(inside)} EVOLVE-BLOCK bodies, got {len(bodies)}")
    return join(outside, bodies)
