"""The built-in non-LLM mutator: perturbs numeric constants and swaps operators inside the
EVOLVE-BLOCKs. An honest random-search baseline that needs no model and no network."""

from __future__ import annotations

import logging
import random
import re

from evolve.edit.blocks import join, split

log = logging.getLogger(__name__)

# Numbers not glued to identifiers (x1, 1e5 stays whole); group 1 is the literal.
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)(?![\w.])")
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


def _mutable_lines(body: str) -> list[int]:
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


def _perturb_number(text: str, rng: random.Random) -> str:
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
    """What _perturb_number changes: every float; ints above 1 only (0 and 1 are flags and indices)."""
    return "." in literal or "e" in literal.lower() or int(literal) > 1


def _number_targets(line: str) -> int:
    return sum(1 for m in _NUMBER.finditer(_code_part(line)) if _is_perturbable(m.group(1)))


def _swap_targets(line: str) -> int:
    return sum(_code_part(line).count(a) for a, _ in _SWAPS)


def offline_targets(code: str) -> int:
    """How many places inside the EVOLVE-BLOCKs the offline mutator can change (numbers and operators)."""
    targets = 0
    for body in split(code)[1]:
        lines = body.splitlines()
        targets += sum(_number_targets(lines[i]) + _swap_targets(lines[i]) for i in _mutable_lines(body))
    return targets


def describe_offline_limits(code: str) -> str | None:
    """A one-line warning when the offline mutator has nothing to perturb in `code`, else None."""
    if offline_targets(code):
        return None
    return (
        "the offline mutator has nothing to perturb: the EVOLVE-BLOCKs hold no numeric constant and no "
        "operator it swaps (<, <=, +, -, *, /, min, max, and, or, True, False), so every child will be "
        "rejected as unchanged; configure a model, or widen the blocks"
    )


def warn_offline_limits(code: str) -> str | None:
    """Log describe_offline_limits' warning (called once when an offline run starts) and return it."""
    warning = describe_offline_limits(code)
    if warning:
        log.warning(warning)
    return warning


def _mutate_line(line: str, rng: random.Random) -> str:
    code = _code_part(line)
    numbers = list(_NUMBER.finditer(code))
    if numbers and rng.random() < 0.9:  # operator swaps mostly break a program: keep them rare
        m = rng.choice(numbers)
        return line[: m.start()] + _perturb_number(m.group(1), rng) + line[m.end() :]
    swaps = [(a, b) for a, b in _SWAPS if a in code]
    if swaps:
        a, b = rng.choice(swaps)
        positions = [m.start() for m in re.finditer(re.escape(a), code)]
        at = rng.choice(positions)
        return line[:at] + b + line[at + len(a) :]
    return line


def mutate(code: str, rng: random.Random, max_edits: int = 3, tries: int = 20) -> tuple[str, str]:
    """Return (child code, a one-line description of what changed).

    Retries until something changes; the child equals the parent only when nothing can change."""
    for _ in range(tries):
        child, description = _mutate_once(code, rng, max_edits)
        if child != code:
            return child, description
    return code, description


def _mutate_once(code: str, rng: random.Random, max_edits: int) -> tuple[str, str]:
    outside, bodies = split(code)
    candidates = [(b, i) for b, body in enumerate(bodies) for i in _mutable_lines(body)]
    if not candidates:
        return code, "no mutable line inside the EVOLVE-BLOCKs"
    edits = []
    for _ in range(rng.randint(1, max_edits)):
        b, i = rng.choice(candidates)
        lines = bodies[b].splitlines(keepends=True)
        before = lines[i]
        lines[i] = _mutate_line(before, rng)
        if lines[i] != before:
            edits.append(f"{before.strip()} -> {lines[i].strip()}")
        bodies[b] = "".join(lines)
    return join(outside, bodies), "; ".join(edits) or "no change"
