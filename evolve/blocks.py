"""EVOLVE-BLOCK regions: where they are, and whether a child changed anything outside them.

A marker is a comment line whose text starts with `EVOLVE-BLOCK-START` or `EVOLVE-BLOCK-END`,
in any of the usual comment syntaxes (`#`, `//`, `/*`, `--`, `;`, `%`, `<!--`, `(*`, `{-`). A
docstring or string that merely mentions the words is not a marker. Pure functions, no I/O.
"""

from __future__ import annotations

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


def check_outside_unchanged(parent: str, child: str) -> None:
    """Raise BlockError when the child edits, adds or removes anything outside the blocks."""
    try:
        parent_out, _ = split(parent)
        child_out, _ = split(child)
    except BlockError as exc:
        raise BlockError(f"the edit broke the EVOLVE-BLOCK markers: {exc}") from None
    if len(parent_out) != len(child_out):
        raise BlockError("the edit added or removed EVOLVE-BLOCK markers")
    for i, (a, b) in enumerate(zip(parent_out, child_out)):
        if a.rstrip() != b.rstrip():
            raise BlockError(f"the edit changes code outside the EVOLVE-BLOCKs (frozen region {i + 1})")


def replace_bodies(code: str, bodies: list[str]) -> str:
    outside, inside = split(code)
    if len(bodies) != len(inside):
        raise BlockError(f"expected {len(inside)} EVOLVE-BLOCK bodies, got {len(bodies)}")
    return join(outside, bodies)
