"""The novelty judge: when a child is above the similarity threshold, a model decides whether it is
really a near-duplicate (ShinkaEvolve's scheme: embedding similarity first, then an LLM judge for
the near-identical ones; shinka/database/dbase.py and its novelty judge prompt).

The population actor asks for a verdict (a `JudgeRequest` in its admission); the driver sends it to
the mutator pool, which calls the judge (`ask_judge`) on one of its threads, never on the actor's;
the verdict goes back to the actor, which stores the call and decides. A judge that fails to answer,
or answers neither way, leaves the threshold's decision standing: the child is a near-duplicate.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from evolve.mutate.llm import ModelSpec, complete
from evolve.mutate.prompt import ProblemView, render

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
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency: float = 0.0
    attempts: int = 1
    error: str | None = None


@dataclass(frozen=True)
class _Neighbour:
    id: int
    code: str


def judge_messages(problem: ProblemView, request: JudgeRequest) -> list[dict]:
    content = render(
        "novelty_judge.j2",
        problem,
        child=request.child_code,
        neighbour=_Neighbour(request.neighbour_id, request.neighbour_code),
        similarity=request.similarity,
    )
    return [{"role": "user", "content": content}]


def read_verdict(text: str) -> tuple[bool | None, str]:
    """(near-duplicate?, the reason) from the judge's answer; None when it says neither."""
    match = _VERDICT.search(text or "")
    if match is None:
        return None, (text or "").strip()[:300]
    rest = (text[match.end() :].strip(" :.-\n") or "").splitlines()
    return match.group(1).upper() == "DUPLICATE", (rest[0] if rest else "")[:300]


def ask_judge(request: JudgeRequest, spec: ModelSpec, problem: ProblemView, seed: int = 0) -> Verdict:
    messages = judge_messages(problem, request)
    prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
    result = complete(spec, messages, random.Random(seed * 1_000_003 + request.iteration))

    def verdict(duplicate: bool, reason: str, error: str | None = None) -> Verdict:
        return Verdict(
            near_duplicate=duplicate,
            reason=reason,
            model=spec.name,
            prompt=prompt,
            answer=result.text,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost=result.cost,
            latency=result.latency,
            attempts=result.attempts,
            error=error,
        )

    if result.error is not None:
        return verdict(True, f"the judge's call failed: {result.error}", result.error)
    duplicate, reason = read_verdict(result.text or "")
    if duplicate is None:
        return verdict(True, f"the judge answered neither NOVEL nor DUPLICATE: {reason}")
    return verdict(duplicate, reason)


def judge_spec(name: str | None, models: tuple[ModelSpec, ...], api_base: str | None) -> ModelSpec | None:
    """The judge's model: one of the run's models by that name (its address, price and limits),
    else a litellm model of that name at `[novelty] api_base`; short answers, little randomness."""
    if name is None:
        return None
    known = next((m for m in models if m.name == name), None)
    return replace(known or ModelSpec(name, api_base=api_base), temperature=0.0, max_tokens=256)
