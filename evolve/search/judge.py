"""The novelty judge's decision, pure: what it is asked (`JudgeRequest`), what it answered
(`Verdict`) and how an answer reads (`read_verdict`). When a child is above the similarity
threshold, a model decides whether it is really a near-duplicate (ShinkaEvolve's scheme: embedding
similarity first, then an LLM judge for the near-identical ones; shinka/database/dbase.py and its
novelty judge prompt).

The population actor asks for a verdict (a `JudgeRequest` in its admission); the driver sends it to
the mutator pool, which calls the judge (`evolve.mutate.judge_call.ask_judge`) on one of its
threads, never on the actor's; the verdict goes back to the actor, which stores the call and
decides. A judge that fails to answer, or answers neither way, leaves the threshold's decision
standing: the child is a near-duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from evolve.usage import CallUsage

_VERDICT = re.compile(r"\b(NOVEL|DUPLICATE)\b", re.IGNORECASE)


@dataclass(frozen=True)
class JudgeRequest:
    iteration: int
    island: int
    child_code: str
    neighbour_id: int
    neighbour_code: str
    similarity: float


@dataclass(frozen=True)
class Verdict:
    near_duplicate: bool
    reason: str  # the judge's one sentence, or why there is no verdict
    model: str
    prompt: str
    answer: str | None
    usage: CallUsage = field(default_factory=CallUsage)
    error: str | None = None  # the judge's call failed: why


def read_verdict(text: str) -> tuple[bool | None, str]:
    """(near-duplicate?, the reason) from the judge's answer; None when it says neither."""
    match = _VERDICT.search(text or "")
    if match is None:
        return None, (text or "").strip()[:300]
    rest = (text[match.end() :].strip(" :.-\n") or "").splitlines()
    return match.group(1).upper() == "DUPLICATE", (rest[0] if rest else "")[:300]
