"""The SEARCH part of the example edit a prompt shows: real lines of the program being edited.

A placeholder ("code to find") in an example is copied by small models word for word, and then
matches nothing. Real lines copied are an edit that applies. Its REPLACE changes the first number
of those lines: a small model seen copying a placeholder REPLACE ("your new version of these
lines") word for word then makes a child that runs (a nudged constant), not a syntax error. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evolve.edit.blocks import BlockError, split

# A line worth quoting: a statement, not a comment, a definition's header, a decorator, a
# docstring or a bracket alone; short enough to read at a glance.
_HEADER = re.compile(r"^\s*(?:#|@|def |async def |class |\"\"\"|'''|[\"'])|^\s*[\]\)\}]+[,:]?\s*$")
_LONGEST = 100
_LINES = 2
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+|\d+)(?![\w.])")


@dataclass(frozen=True)
class EditExample:
    search: str  # real lines of the program, each once in it
    replace: str | None  # the same lines with their first number changed; None: no number


def example_edit(code: str) -> EditExample | None:
    """The example edit of `code`: its quotable lines, and those lines with a number changed."""
    search = example_lines(code)
    if search is None:
        return None
    match = _NUMBER.search(search)
    if match is None:
        return EditExample(search, None)
    number = match.group(1)
    if "." in number:
        value = float(number)
        changed = f"{value * 1.2 if value else 0.1:.6g}"
        changed = changed if "." in changed or "e" in changed else changed + ".0"
    else:
        changed = str(int(number) + 1)
    return EditExample(search, search[: match.start()] + changed + search[match.end() :])


def _quotable(line: str, counts: dict[str, int]) -> bool:
    text = line.strip()
    return bool(text) and len(line) <= _LONGEST and not _HEADER.match(line) and counts.get(text, 0) == 1


def example_lines(code: str) -> str | None:
    """One or two consecutive lines of the first EVOLVE-BLOCK that occur once in the program
    (so the example SEARCH matches exactly one place), lines with a number first (what an edit
    most often changes); None when the blocks hold nothing quotable."""
    try:
        bodies = split(code)[1]
    except BlockError:
        return None
    counts: dict[str, int] = {}
    for line in code.splitlines():
        counts[line.strip()] = counts.get(line.strip(), 0) + 1
    for body in bodies:
        lines, in_string = body.splitlines(), False
        candidates = []
        for i, line in enumerate(lines):
            if line.count('"""') % 2 or line.count("'''") % 2:
                in_string = not in_string
                continue
            if not in_string and _quotable(line, counts):
                candidates.append(i)
        runs = [lines[i : i + _LINES] for i in candidates if i + 1 in candidates]
        numbered = [run for run in runs if any(re.search(r"\d", line) for line in run)]
        chosen = numbered or runs or [[lines[i]] for i in candidates]
        if chosen:
            return "\n".join(chosen[0])
    return None
