"""Code in a model's answer read as a whole program or as the body of the EVOLVE-BLOCK(s).

Pure functions. The child always keeps the parent's own frozen text: from an answer we take
only the block bodies, after checking that everything around them matches the parent (trailing
spaces and blank lines aside). A whole program may come with its marker comments or without
them (models often drop comments); without, its frozen lines locate the bodies.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from itertools import pairwise

from evolve.edit.anchors import anchored_child, blocks_unchanged
from evolve.edit.blocks import BlockError, describe_frozen_change, find_blocks, is_marker, join, split
from evolve.edit.child import parse_python
from evolve.edit.errors import EditRejected
from evolve.edit.salvage import place_definitions, same_outside
from evolve.kinds import AnswerForm


@dataclass(frozen=True)
class ProgramReading:
    form: AnswerForm  # FULL_PROGRAM or BLOCK_BODY, or a salvage of them
    child: str


def _meaningful(segment: str) -> list[str]:
    """A frozen segment's lines that locate it: not blank, not a marker, trailing spaces off."""
    return [line.rstrip() for line in segment.splitlines() if line.strip() and not is_marker(line)]


def carries_frozen_code(parent: str, code: str) -> bool:
    """Whether marker-less code repeats the parent's frozen definitions (a whole program with its
    markers dropped), rather than only an import or two (a block body may repeat those)."""
    outside, bodies = split(parent)
    in_blocks = {line.strip() for body in bodies for line in body.splitlines()}
    frozen = {
        line.strip()
        for segment in outside
        for line in _meaningful(segment)
        if len(line.strip()) >= 8 and line.strip() not in in_blocks
    }
    repeated = {line.strip() for line in code.splitlines() if line.strip() in frozen}
    return len(repeated) >= 2 and any(not line.startswith(("import ", "from ")) for line in repeated)


def looks_like_program(parent: str, code: str) -> bool:
    """Whether `code` is meant as the whole program (markers, or the frozen code around them)."""
    try:
        if find_blocks(code):
            return not _markers_only_outside(code)
    except BlockError:
        return True  # broken markers: a program, and a broken one
    return carries_frozen_code(parent, code)


def _markers_only_outside(code: str) -> bool:
    return not any(_meaningful(segment) for segment in split(code)[0])


def read_program(parent: str, code: str, language: str = "python") -> ProgramReading:
    """The child that `code` makes when read as the whole program or as the block body (bodies);
    raises EditRejected with the line that does not fit. Not yet checked as a child. For Python,
    an answer off the format whose intent is clear is salvaged (evolve/edit/salvage.py), and a
    whole program that changed frozen code is read by its anchors as a last resort (anchors.py)."""
    try:
        return _read_program(parent, code, language)
    except EditRejected as exc:
        if language != "python":
            raise
        if blocks_unchanged(parent, code):  # say so first: the frozen change is not the point
            raise EditRejected(f"the edit changes nothing inside the EVOLVE-BLOCKs, and {exc}") from None
        if (anchored := anchored_child(parent, code)) is None:
            raise
        return ProgramReading(AnswerForm.FULL_PROGRAM_ANCHORED, anchored)


def _read_program(parent: str, code: str, language: str) -> ProgramReading:
    parent_outside, parent_bodies = split(parent)
    python = language == "python"
    try:
        blocks = find_blocks(code)
    except BlockError as exc:
        raise EditRejected(f"the program in the answer has broken EVOLVE-BLOCK markers: {exc}") from None
    if blocks:
        outside, bodies = split(code)
        if len(bodies) != len(parent_bodies):
            raise EditRejected(
                f"the code in the answer has {len(bodies)} EVOLVE-BLOCKs and the program has {len(parent_bodies)}"
            )
        child = join(parent_outside, bodies)
        if _markers_only_outside(code):  # the block(s) alone, markers included
            return ProgramReading(AnswerForm.BLOCK_BODY, child)
        try:
            _check_segments(parent, parent_outside, outside)
        except EditRejected as exc:
            if not python:
                raise
            if same_outside(code, child):
                return ProgramReading(AnswerForm.FULL_PROGRAM_SALVAGED, child)
            raise EditRejected(_code_change(parent, code) or str(exc)) from None
        return ProgramReading(AnswerForm.FULL_PROGRAM, child)
    if carries_frozen_code(parent, code) or _frame_fits(parent_outside, code):
        try:
            return ProgramReading(AnswerForm.FULL_PROGRAM, join(parent_outside, _bodies_by_frame(parent, code)))
        except EditRejected:
            if not python:
                raise
            return ProgramReading(AnswerForm.FULL_PROGRAM_SALVAGED, _salvaged_frame(parent, code))
    placed = place_definitions(parent, code) if python else None
    if placed is not None and (len(parent_bodies) != 1 or not placed.whole):
        return ProgramReading(AnswerForm.LOOSE_CODE_PLACED, placed.child)
    if len(parent_bodies) != 1:
        raise EditRejected(
            f"the code in the answer has no EVOLVE-BLOCK markers and the program has {len(parent_bodies)} "
            "blocks: answer with SEARCH/REPLACE edits, or the whole program with its markers"
        )
    return ProgramReading(AnswerForm.BLOCK_BODY, join(parent_outside, [code]))


def _salvaged_frame(parent: str, code: str) -> str:
    """A marker-less whole program whose frozen lines are found once comments and docstrings
    are left out on both sides, and which then differs from the parent's only in those. Raises
    EditRejected naming the frozen code line (not a comment) that is missing or changed."""
    bodies = _bodies_by_frame(parent, code, _ignorable(parent), _ignorable(code))
    child = join(split(parent)[0], bodies)
    if not same_outside(code, child):
        raise EditRejected(
            "the program in the answer has no EVOLVE-BLOCK markers and changes code outside them "
            "(not only comments or docstrings): keep the markers and every line outside them"
        )
    return child


def _blanked(code: str) -> str:
    """The code with its comment and docstring lines emptied: line numbers kept, words gone."""
    ignorable = _ignorable(code)
    return "".join("\n" if i in ignorable else line for i, line in enumerate(code.splitlines(keepends=True)))


def _code_change(parent: str, code: str) -> str | None:
    """The reason naming the first frozen line that changed as code, comments and docstrings
    aside (a model told its docstring changed would fix that and keep the real change)."""
    parent_blank, code_blank = _blanked(parent), _blanked(code)
    try:
        _check_segments(parent_blank, split(parent_blank)[0], split(code_blank)[0])
    except EditRejected as exc:
        return str(exc)
    return None


def _ignorable(code: str) -> frozenset[int]:
    """The 0-based lines that are comments alone (markers aside) or part of a docstring."""
    lines = code.splitlines()
    found = {i for i, line in enumerate(lines) if line.lstrip().startswith("#") and not is_marker(line)}
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset(found)
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found |= set(range(node.lineno - 1, node.end_lineno or node.lineno))
    return frozenset(found)


def _check_segments(parent: str, parent_outside: list[str], outside: list[str]) -> None:
    starts = [0, *(b.end for b in find_blocks(parent))]
    for segment, (a, b, start) in enumerate(zip(parent_outside, outside, starts), 1):
        change = describe_frozen_change(a, b, start, ignore_blank=True)  # the child keeps the parent's text
        if change:
            raise EditRejected(
                f"the program in the answer changes code outside the EVOLVE-BLOCKs (frozen region {segment}): {change}"
            )


def _frame_fits(parent_outside: list[str], code: str) -> bool:
    """Whether the code begins and ends with the parent's frozen lines: a whole program whose
    frozen part is small (an import, a call), with its markers dropped."""
    first, last = _meaningful(parent_outside[0]), _meaningful(parent_outside[-1])
    if not first and not last:
        return False
    kept = [line.rstrip() for line in code.splitlines() if line.strip()]
    return kept[: len(first)] == first and (not last or kept[-len(last) :] == last) and len(kept) > len(first + last)


def _run_at(kept: list[tuple[int, str]], target: list[str], k: int) -> bool:
    return 0 <= k <= len(kept) - len(target) and [text for _, text in kept[k : k + len(target)]] == target


def _bodies_by_frame(
    parent: str, code: str, skip_parent: frozenset[int] = frozenset(), skip_code: frozenset[int] = frozenset()
) -> list[str]:
    """The block bodies of a marker-less whole program: what lies between the parent's frozen
    segments, found in order (the first at the start, the last at the end, each other one after
    the one before); lines in `skip_parent` / `skip_code` do not count. Raises EditRejected naming
    the frozen line that is not there."""
    outside, _ = split(parent)
    starts = [0, *(b.end for b in find_blocks(parent))]
    lines = code.splitlines()
    kept = [(i, line.rstrip()) for i, line in enumerate(lines) if line.strip() and i not in skip_code]
    last = len(outside) - 1
    cuts: list[tuple[int, int]] = []  # each frozen segment's (first, one past last) line in the code
    cursor = 0  # index into kept
    for number, (segment, start) in enumerate(zip(outside, starts)):
        target = [
            line.rstrip()
            for offset, line in enumerate(segment.splitlines())
            if line.strip() and not is_marker(line) and start + offset not in skip_parent
        ]
        if not target:
            if 0 < number < last:
                raise EditRejected(
                    "the program in the answer has no EVOLVE-BLOCK markers, and two of its blocks have no code "
                    "between them to tell them apart: keep the markers"
                )
            at = 0 if number == 0 else len(lines)
            cuts.append((at, at))
            continue
        if number == 0:
            k: int | None = 0
        elif number == last:
            k = len(kept) - len(target)
        else:
            k = next((j for j in range(cursor, len(kept)) if _run_at(kept, target, j)), None)
        if k is None or k < cursor or not _run_at(kept, target, k):
            raise EditRejected(
                "the program in the answer has no EVOLVE-BLOCK markers and changes code outside them: "
                + _missing_line(segment, start, {text for _, text in kept[cursor:]}, skip_parent)
            )
        cuts.append((kept[k][0], kept[k + len(target) - 1][0] + 1))
        cursor = k + len(target)
    bodies = []
    for (_, end), (begin, _) in pairwise(cuts):
        body = lines[end:begin]
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        bodies.append("".join(line + "\n" for line in body))
    return bodies


def _missing_line(segment: str, start: int, present: set[str], skip: frozenset[int] = frozenset()) -> str:
    """'line N ... is missing or changed' for the parent's first frozen line the code lacks
    (lines in `skip` aside)."""
    for offset, line in enumerate(segment.splitlines()):
        if line.strip() and not is_marker(line) and start + offset not in skip and line.rstrip() not in present:
            return f"line {start + offset + 1} {line.strip()!r} is missing or changed"
    return f"the frozen lines from line {start + 1} ({_meaningful(segment)[0].strip()!r}) are not where they belong"
