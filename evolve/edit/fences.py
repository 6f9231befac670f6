"""Markdown code fences in a model's answer: ``` or ~~~ (three or more), any info string.

Pure functions. A fence closes at a line of the same character, at least as long and with no
info string, so a program whose docstring holds a shorter fence keeps it; a fence the answer
never closes (a cut-off answer) runs to the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$")


@dataclass(frozen=True)
class Fence:
    info: str  # the first word after the opening fence, lower-cased: "python", "diff", ""
    body: str  # the lines between the fence lines
    start: int  # index of the opening line
    end: int  # index of the closing line; len(lines) when never closed


def find_fences(text: str) -> list[Fence]:
    lines = text.splitlines()
    fences, i = [], 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if not opening:
            i += 1
            continue
        mark = opening.group(1)
        closer = re.compile(rf"^[ \t]*{re.escape(mark[0])}{{{len(mark)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closer.match(lines[j])), len(lines))
        body = "".join(line + "\n" for line in lines[i + 1 : end])
        fences.append(Fence(opening.group(2).lower(), body, i, end))
        i = end + 1
    return fences


def outside_fences(text: str) -> str:
    """The answer's lines that are in no fence: its prose, and any bare edit."""
    lines = text.splitlines()
    inside = {i for f in find_fences(text) for i in range(f.start, min(f.end + 1, len(lines)))}
    return "".join(line + "\n" for i, line in enumerate(lines) if i not in inside)
