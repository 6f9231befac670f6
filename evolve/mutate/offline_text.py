"""The offline mutator's text-level edits, for blocks that are not Python on their own (C, Rust,
a fragment): numeric constants perturbed and operator tokens swapped, line by line, comments and
docstrings left alone. Pure, seeded by the caller's `random.Random`."""

from __future__ import annotations

import random
import re
from collections import Counter

from evolve.mutate.ast_sites import EditKind

# Numbers not glued to identifiers (x1, 1e5 stays whole); group 1 is the literal.
NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)(?![\w.])")
_SWAPS = [
    ("<=", "<"),
    ("<", "<="),
    (">=", ">"),
    (">", ">="),
    ("min(", "max("),
    ("max(", "min("),
    (" + ", " - "),
    (" - ", " + "),
    (" * ", " / "),
    (" / ", " * "),
    (" and ", " or "),
    (" or ", " and "),
    ("True", "False"),
    ("False", "True"),
]
_SKIP_LINE = re.compile(r"^\s*(#|//|/\*|\*|\"\"\"|''')")


def mutable_lines(body: str) -> list[int]:
    """Lines worth touching: not comments, not docstrings, not blank."""
    out, in_doc = [], False
    for i, line in enumerate(body.splitlines()):
        quotes = line.count('"""') + line.count("'''")
        if in_doc or _SKIP_LINE.match(line):
            if quotes % 2:
                in_doc = not in_doc
            continue
        if quotes % 2:
            in_doc = not in_doc
            continue
        if line.strip():
            out.append(i)
    return out


STEP_SIZES = (0.01, 0.03, 0.1, 0.3)  # relative; small steps refine, large ones explore


def perturb_number(text: str, rng: random.Random) -> str:
    if "." in text or "e" in text.lower():  # a float literal
        value = float(text)
        scale = abs(value) if value else 0.1
        new = value + rng.gauss(0.0, rng.choice(STEP_SIZES)) * scale
        if value >= 0 and new < 0:
            new = -new
        return f"{new:.6g}" if ("e" in f"{new:.6g}" or "." in f"{new:.6g}") else f"{new:.6g}.0"
    value = int(text)
    return str(max(0, value + rng.choice([-1, 1]))) if value > 1 else text


def _code_part(line: str) -> str:
    """The line without its trailing comment: comments are never edited."""
    return line.split("#", 1)[0]


def _is_perturbable(literal: str) -> bool:
    """What perturb_number changes: every float; ints above 1 only (0 and 1 are flags and indices)."""
    return "." in literal or "e" in literal.lower() or int(literal) > 1


def number_targets(line: str) -> int:
    return sum(1 for m in NUMBER.finditer(_code_part(line)) if _is_perturbable(m.group(1)))


def swap_targets(line: str) -> int:
    return sum(_code_part(line).count(a) for a, _ in _SWAPS)


def mutate_line(line: str, rng: random.Random) -> tuple[str, EditKind | None]:
    """The line with one number perturbed or one operator swapped, and which (None: no change)."""
    code = _code_part(line)
    numbers = list(NUMBER.finditer(code))
    if numbers and rng.random() < 0.9:  # operator swaps mostly break a program: keep them rare
        m = rng.choice(numbers)
        return line[: m.start()] + perturb_number(m.group(1), rng) + line[m.end() :], EditKind.CONSTANT
    swaps = [(a, b) for a, b in _SWAPS if a in code]
    if swaps:
        a, b = rng.choice(swaps)
        positions = [m.start() for m in re.finditer(re.escape(a), code)]
        at = rng.choice(positions)
        return line[:at] + b + line[at + len(a) :], EditKind.OPERATOR
    return line, None


def text_sites(body: str) -> Counter[EditKind]:
    """What the text-level edits can change in a block body, by kind."""
    lines = body.splitlines()
    counts: Counter[EditKind] = Counter()
    for i in mutable_lines(body):
        counts[EditKind.CONSTANT] += number_targets(lines[i])
        counts[EditKind.OPERATOR] += swap_targets(lines[i])
    return +counts


def text_edit(body: str, rng: random.Random) -> tuple[str, str, EditKind] | None:
    """One text-level edit of a random line of the body: (new body, description, kind), or None."""
    candidates = mutable_lines(body)
    if not candidates:
        return None
    lines = body.splitlines(keepends=True)
    i = rng.choice(candidates)
    before = lines[i]
    lines[i], kind = mutate_line(before, rng)
    if kind is None or lines[i] == before:
        return None
    return "".join(lines), f"{kind}: {before.strip()} -> {lines[i].strip()}", kind
