"""SEARCH/REPLACE edits: the blocks found in an answer, and each applied to a program by its text.

Pure functions. Every way an edit can fail raises `EditRejected` with a reason that is stored
and shown to the model; the reason names what failed (which SEARCH text matched nothing, and
the program's closest line; which of several places it matched). `evolve.edit.answers` decides
which form an answer is in; `evolve.edit.child` checks the child an edit makes.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from evolve.edit.blocks import is_marker
from evolve.edit.errors import EditRejected, SearchMissed


@dataclass(frozen=True)
class SearchReplace:
    search: str
    replace: str


_BLOCK = re.compile(
    r"^[ \t]*<{5,9}[ \t]*SEARCH[ \t]*\n(.*?)^[ \t]*={5,9}[ \t]*\n(.*?)^[ \t]*>{5,9}[ \t]*REPLACE[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
# Any one of the three marker lines: an answer that has some but no whole block is a broken one.
SEARCH_MARKER = re.compile(r"^[ \t]*(?:<{5,9}[ \t]*SEARCH|>{5,9}[ \t]*REPLACE)[ \t]*$", re.MULTILINE)


_PART_FENCE = re.compile(r"\A[ \t]*(`{3,}|~{3,})[^\n`]*\n(.*?)^[ \t]*\1[ \t]*\n?\Z", re.DOTALL | re.MULTILINE)


def _unfenced(part: str) -> str:
    """A SEARCH or REPLACE part without a fence of its own around it (some models fence each)."""
    match = _PART_FENCE.match(part)
    return match.group(2) if match else part


def parse_search_replace(answer: str) -> list[SearchReplace]:
    answer = answer.replace("\r\n", "\n")  # some servers answer with Windows line endings
    return [SearchReplace(_unfenced(m.group(1)), _unfenced(m.group(2))) for m in _BLOCK.finditer(answer)]


# ---- finding where a SEARCH text is ----------------------------------------------------------


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _width(indent: str) -> int:
    return len(indent.expandtabs(4))


def _shift(line: str, delta: int, tabs: bool) -> str:
    """The line moved `delta` columns right (left when negative), without trailing spaces."""
    if not line.strip():
        return ""
    if delta == 0 and "\t" not in _indent(line):
        return line.rstrip()
    width = max(0, _width(_indent(line)) + delta)
    indent = "\t" * (width // 4) + " " * (width % 4) if tabs else " " * width
    return indent + line.strip()


def _trim_blank(lines: list[str]) -> list[str]:
    lines = list(lines)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _drop_dropped_markers(search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """A SEARCH copied with the block's marker line whose REPLACE leaves the marker out edits the
    body, not the marker: the marker line leaves the SEARCH (and stays in the program). A marker
    the REPLACE keeps at the same edge stays in both (an insertion right after START, say)."""
    search, kept = _trim_blank(search), _trim_blank(replace)
    while search and is_marker(search[0]) and not (kept and kept[0].strip() == search[0].strip()):
        search = _trim_blank(search[1:])
    floor = 1 if search and is_marker(search[0]) else 0  # a START marker the REPLACE keeps stays
    while len(search) > floor and is_marker(search[-1]) and not (kept and kept[-1].strip() == search[-1].strip()):
        search = _trim_blank(search[:-1])
    return search, replace


@dataclass(frozen=True)
class _Span:
    start: int  # first line replaced (0-based)
    end: int  # one past the last line replaced
    where: tuple[int | None, ...]  # each SEARCH line's line in the program (None: a blank it skipped)


def _exact_spans(lines: list[str], search: list[str]) -> list[_Span]:
    n = len(search)
    return [_Span(i, i + n, tuple(range(i, i + n))) for i in range(len(lines) - n + 1) if lines[i : i + n] == search]


def _stripped_spans(lines: list[str], search: list[str]) -> list[_Span]:
    """Matches ignoring indentation and trailing spaces, line for line."""
    target = [s.strip() for s in search]
    stripped = [line.strip() for line in lines]
    n = len(target)
    return [_Span(i, i + n, tuple(range(i, i + n))) for i in range(len(lines) - n + 1) if stripped[i : i + n] == target]


def _nonblank_spans(lines: list[str], search: list[str]) -> list[_Span]:
    """Matches of the non-blank lines alone: a SEARCH that dropped or added a blank line."""
    target = [s.strip() for s in search if s.strip()]
    kept = [(i, line.strip()) for i, line in enumerate(lines) if line.strip()]
    n = len(target)
    spans = []
    for k in range(len(kept) - n + 1):
        if [text for _, text in kept[k : k + n]] != target:
            continue
        found = iter(i for i, _ in kept[k : k + n])
        where = tuple(next(found) if line.strip() else None for line in search)
        spans.append(_Span(kept[k][0], kept[k + n - 1][0] + 1, where))
    return spans


def _replacement(lines: list[str], span: _Span, search: list[str], replace: list[str]) -> list[str]:
    """The REPLACE lines as they go into the program. A line the edit keeps as it was in the
    SEARCH stays the program's own, whatever whitespace the answer gave it. A new line moves by
    as many columns as the SEARCH line it replaces (or follows) is off from the program's: a
    dedented SEARCH gets an indented replacement, nested lines keep their relative depth."""

    def delta_at(i: int) -> tuple[int, bool]:
        nearest = min(
            (k for k, at in enumerate(span.where) if at is not None and search[k].strip()),
            key=lambda k: abs(k - i),
        )
        at = span.where[nearest]
        assert at is not None  # chosen among the lines that have a place
        code_indent = _indent(lines[at])
        return _width(code_indent) - _width(_indent(search[nearest])), "\t" in code_indent

    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, [s.strip() for s in search], [r.strip() for r in replace], autojunk=False)
    for tag, i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag == "delete":
            continue
        if tag == "equal":
            for k in range(j2 - j1):
                at = span.where[i1 + k]
                if at is not None and search[i1 + k].rstrip() == replace[j1 + k].rstrip():
                    out.append(lines[at])  # kept as it was: the program's own line
                else:
                    out.append(_shift(replace[j1 + k], *delta_at(i1 + k)))
            continue
        anchor = i1 - 1 if tag == "insert" and i1 > 0 else min(i1, len(search) - 1)
        delta, tabs = delta_at(anchor)
        out += [_shift(line, delta, tabs) for line in replace[j1:j2]]
    return out


def _closest_line(lines: list[str], text: str) -> str:
    """'line N: ...' of the program line most like `text`, for a reason the model can act on."""
    best, best_ratio = -1, 0.0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        ratio = difflib.SequenceMatcher(None, text.strip(), line.strip(), autojunk=False).ratio()
        if ratio > best_ratio:
            best, best_ratio = i, ratio
    return f"line {best + 1} {lines[best].strip()!r}" if best >= 0 else "the program is empty"


def _no_match_reason(lines: list[str], search: list[str], label: str) -> str:
    present = {line.strip() for line in lines}
    for k, line in enumerate(search, 1):
        if line.strip() and line.strip() not in present:
            return (
                f"{label} matches nothing in the program: its line {k} {line.strip()!r} is not in the program "
                f"(closest: {_closest_line(lines, line)})"
            )
    # Each line is somewhere, but not together: name where the longest run from the start breaks.
    target = [s.strip() for s in search if s.strip()]
    kept = [line.strip() for line in lines if line.strip()]
    longest = max((_run(kept, start, target) for start in range(len(kept))), default=0)
    broken = target[min(longest, len(target) - 1)]
    return (
        f"{label} matches nothing in the program: each of its lines is in the program, but not in this "
        f"order (the run breaks at {broken!r})"
    )


def _run(kept: list[str], start: int, target: list[str]) -> int:
    n = 0
    while n < len(target) and start + n < len(kept) and kept[start + n] == target[n]:
        n += 1
    return n


def _pick(spans: list[_Span], near: int | None, label: str) -> _Span:
    if len(spans) == 1:
        return spans[0]
    if near is not None:  # a unified diff's line number tells which of several places is meant
        ranked = sorted(spans, key=lambda s: abs(s.start - near))
        if abs(ranked[0].start - near) < abs(ranked[1].start - near):
            return ranked[0]
    where = ", ".join(str(s.start + 1) for s in spans[:5])
    raise EditRejected(f"{label} matches {len(spans)} places (lines {where}); include more context to make it unique")


def apply_one(code: str, edit: SearchReplace, label: str = "SEARCH block 1", near: int | None = None) -> str:
    """`code` with the one place `edit.search` matches replaced. Matches whole lines: verbatim
    first, then ignoring indentation and trailing spaces (re-indenting the replacement to where it
    lands), then ignoring blank lines. `near` (0-based line) breaks a tie between several places."""
    search, replace = _drop_dropped_markers(edit.search.splitlines(), edit.replace.splitlines())
    if not search:
        if any(is_marker(line) for line in edit.search.splitlines()):
            raise EditRejected(
                f"{label} finds only an EVOLVE-BLOCK marker line and its REPLACE drops it; the markers may not be edited"
            )
        raise EditRejected(f"{label} is empty")
    lines = code.splitlines()
    for finder in (_exact_spans, _stripped_spans, _nonblank_spans):
        spans = finder(lines, search)
        if spans:
            break
    else:
        raise SearchMissed(_no_match_reason(lines, search, label))
    span = _pick(spans, near, label)
    out = [*lines[: span.start], *_replacement(lines, span, search, replace), *lines[span.end :]]
    return "\n".join(out) + ("\n" if code.endswith("\n") else "")


def apply_search_replace(parent: str, edits: list[SearchReplace]) -> str:
    """The edits applied in order (each to the result of the previous); not yet checked."""
    child = parent
    for i, edit in enumerate(edits, 1):
        child = apply_one(child, edit, f"SEARCH block {i}")
    return child
