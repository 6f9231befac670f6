"""Text bounded in bytes: what a model writes can be any size; what is stored, or sent back to
it, is not. A 20 MB answer would otherwise be stored whole and re-sent in every re-ask."""

from __future__ import annotations

MAX_ROW_BYTES = 1024 * 1024  # the most text any one stored field holds, whatever the settings


def size(text: str) -> int:
    """Bytes of `text` in UTF-8 (what a row and a request carry)."""
    return len(text.encode("utf-8", "surrogatepass"))


def _head(text: str, max_bytes: int) -> str:
    """The longest start of `text` within `max_bytes` (never half a character)."""
    return text.encode("utf-8", "surrogatepass")[: max(0, max_bytes)].decode("utf-8", "ignore")


def clip(text: str, max_bytes: int = MAX_ROW_BYTES) -> str:
    """`text` when it fits; else its start and a note of what was cut, all within `max_bytes`."""
    total = size(text)
    if total <= max_bytes:
        return text
    note = f"\n[... cut: {total:,} bytes in all, the first {max_bytes:,} at most kept]"
    if size(note) >= max_bytes:
        return _head(text, max_bytes)
    return _head(text, max_bytes - size(note)) + note


def excerpt(text: str, max_bytes: int) -> str:
    """`text` when it fits; else its first and last lines, with how much was left out between
    them, all within `max_bytes`: what a re-ask shows of an answer, never the whole of a big one."""
    if size(text) <= max_bytes:
        return text
    lines = text.splitlines()
    note = f"[... {len(lines):,} lines, {size(text):,} bytes in all: the middle is left out ...]"
    room = (max_bytes - size(note) - 2) // 2
    head: list[str] = []
    tail: list[str] = []
    used = 0
    for line in lines:
        if used + size(line) + 1 > room:
            break
        head.append(line)
        used += size(line) + 1
    used = 0
    for line in reversed(lines[len(head) :]):
        if used + size(line) + 1 > room:
            break
        tail.insert(0, line)
        used += size(line) + 1
    if not head:  # one long line: its start alone
        head = [_head(text, room)]
    return "\n".join([*head, note, *tail])
