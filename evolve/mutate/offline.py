"""The built-in non-LLM mutator: an honest random-search baseline that needs no model and no network.

A block that is Python on its own gets AST-level edits (`evolve.mutate.ast_edits`: constants and
call arguments nudged, comparisons, and/or, arithmetic, min/max-like calls, sort orders and
conditions flipped, independent statements swapped), so a block without a single number still
changes. Any other block (C, Rust, a fragment) gets the text-level edits of
`evolve.mutate.offline_text`. Only the EVOLVE-BLOCK bodies change; comments stay as written.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass

from evolve.edit.blocks import join, split
from evolve.mutate.ast_edits import apply_site, parse_block
from evolve.mutate.ast_sites import LABELS, EditKind, Site, find_sites
from evolve.mutate.offline_text import text_edit, text_sites

log = logging.getLogger(__name__)

# How a run without models names its mutator (the run's `mutator` column, the start line): one
# name for one concept, which also says the prompts carry no memory (no prompt is read).
OFFLINE_MUTATOR = "offline"

# Nudging numbers refines a program, flips explore it (and break it more often): where a block has
# numbers, most edits nudge one (the text-level edits nudge 9 in 10).
NUDGES = frozenset({EditKind.CONSTANT, EditKind.CALL_ARGUMENT})
NUDGE_SHARE = 0.75


@dataclass(frozen=True)
class OfflineChild:
    code: str
    description: str  # "comparison: a < b -> a <= b; constant: 0.5 -> 0.52"
    kinds: tuple[EditKind, ...] = ()  # the edits made, in order (empty: nothing changed)


def _is_python(language: str | None) -> bool:
    """None: try Python, and fall back to text where a block does not parse."""
    return language in (None, "python")


def block_targets(body: str, language: str | None = None) -> Counter[EditKind]:
    """What the offline mutator can change in one block body, by kind."""
    block = parse_block(body) if _is_python(language) else None
    if block is None:
        return text_sites(body)
    return Counter(site.kind for site in find_sites(block.tree))


def target_counts(code: str, language: str | None = None) -> Counter[EditKind]:
    counts: Counter[EditKind] = Counter()
    for body in split(code)[1]:
        counts += block_targets(body, language)
    return counts


def offline_targets(code: str, language: str | None = None) -> int:
    """How many places inside the EVOLVE-BLOCKs the offline mutator can change."""
    return sum(target_counts(code, language).values())


def describe_offline_targets(code: str, language: str | None = None) -> str:
    """The start line: what the offline mutator can change, e.g. "offline mutator: 12 constants,
    5 comparisons, 3 min/max-like calls in the blocks"."""
    counts = target_counts(code, language)
    if not counts:
        return "offline mutator: nothing to change in the blocks"
    parts = [f"{n} {LABELS[kind][0 if n == 1 else 1]}" for kind, n in counts.most_common()]
    return f"offline mutator: {', '.join(parts)} in the blocks"


def describe_offline_limits(code: str, language: str | None = None) -> str | None:
    """A one-line warning when the offline mutator has nothing to change in `code`, else None."""
    if offline_targets(code, language):
        return None
    return (
        "the offline mutator has nothing to change: the EVOLVE-BLOCKs hold no numeric constant, no "
        "comparison, operator, condition, min/max-like call or swappable statement, so every child will be "
        "rejected as unchanged; configure a model, or widen the blocks"
    )


def warn_offline_limits(code: str, language: str | None = None) -> str | None:
    """Log describe_offline_limits' warning (called once when an offline run starts) and return it."""
    warning = describe_offline_limits(code, language)
    if warning:
        log.warning(warning)
    return warning


def mutate(
    code: str, rng: random.Random, language: str | None = None, max_edits: int = 3, tries: int = 20
) -> OfflineChild:
    """A child of `code` with 1 to `max_edits` edits inside its blocks.

    Retries until something changes; the child equals the parent only when nothing can change."""
    outside, bodies = split(code)
    if not bodies or not any(block_targets(body, language) for body in bodies):
        return OfflineChild(code, "nothing the offline mutator can change inside the EVOLVE-BLOCKs")
    for _ in range(tries):
        edits: list[tuple[str, EditKind]] = []
        new_bodies = list(bodies)
        for _ in range(rng.randint(1, max_edits)):
            b = rng.randrange(len(new_bodies))
            made = _edit_block(new_bodies[b], rng, language)
            if made is not None:
                new_bodies[b], description, kind = made
                edits.append((description, kind))
        child = join(outside, new_bodies)
        if edits and child != code:
            return OfflineChild(child, "; ".join(d for d, _ in edits), tuple(k for _, k in edits))
    return OfflineChild(code, "no edit changed the program")


def _edit_block(body: str, rng: random.Random, language: str | None) -> tuple[str, str, EditKind] | None:
    """One edit of a block body: (new body, description, kind); None where none could be made."""
    block = parse_block(body) if _is_python(language) else None
    if block is None:
        return text_edit(body, rng)
    sites = find_sites(block.tree)
    if not sites:
        return None
    site = _pick(sites, rng)
    edit = apply_site(block, site, rng)
    return None if edit is None else (edit.text, edit.describe(), edit.kind)


def _pick(sites: list[Site], rng: random.Random) -> Site:
    """A nudge (NUDGE_SHARE of the time, where the block has numbers), else a kind of flip drawn
    uniformly, then one of its sites: a block of 40 numbers and one comparison still flips it."""
    nudges = [s for s in sites if s.kind in NUDGES]
    if nudges and (len(nudges) == len(sites) or rng.random() < NUDGE_SHARE):
        return rng.choice(nudges)
    by_kind: dict[EditKind, list[Site]] = {}
    for site in sites:
        if site.kind not in NUDGES:
            by_kind.setdefault(site.kind, []).append(site)
    return rng.choice(by_kind[rng.choice(list(by_kind))])
