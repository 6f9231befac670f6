"""The novelty judge's model call (evolve/search/judge.py holds the request, the verdict and how
an answer reads): the prompt, the call on a mutator thread, and which model judges."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from evolve.mutate.llm import ModelSpec, complete
from evolve.mutate.prompt import ProblemView, render
from evolve.search.judge import JudgeRequest, Verdict, read_verdict


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
            usage=result.usage,
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
