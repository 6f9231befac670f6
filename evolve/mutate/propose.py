"""One mutation: a task from the population in, a proposal (child or rejection) out.

Runs in a Ray worker; takes and returns plain frozen dataclasses. Seeded per iteration, so the
same seed and the same model answers give the same child.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace

from evolve.clip import clip, size
from evolve.edit import EditRejected, check_child, read_answer, stated_idea
from evolve.edit.blocks import block_bodies
from evolve.engine.pricing import worst_case_cost
from evolve.kinds import AnswerForm, Mutation
from evolve.mutate import offline
from evolve.mutate.answer_length import sized_for
from evolve.mutate.budget import PromptParts, fit, shrink_prompt
from evolve.mutate.llm import Completion, ModelSpec, complete, count_tokens, embed
from evolve.mutate.local import is_self_hosted, is_small
from evolve.mutate.memory import Memory
from evolve.mutate.prompt import ProblemView, build_messages, retry_message, shows_block_alone
from evolve.mutate.reask import (
    ReaskText,
    call_seed,
    conversation,
    fixed_by_reask,
    normalized,
    reask_policy,
    reask_temperature,
    unchanged,
)
from evolve.mutate.repeats import REPEATED, RepeatLedger
from evolve.mutate.spending import Hold, Spending
from evolve.mutate.views import ProgramView
from evolve.usage import CallUsage

log = logging.getLogger(__name__)

OFFLINE_MODEL = "offline"


@dataclass(frozen=True)
class MutationTask:
    iteration: int
    island: int
    parent: ProgramView
    inspirations: tuple[ProgramView, ...]
    last_failure: str | None
    seed: int
    memory: Memory = field(default_factory=Memory)  # lineage, best and diverse programs, what was tried, cell, insight
    # What the search chose (evolve/search/adaptive.py); None: the mutator's own weights.
    model: str | None = None
    mutation: str | None = None  # diff, full, crossover or fix
    second_parent: ProgramView | None = None  # crossover: the other parent, shown in full
    repair: ProgramView | None = None  # fix: the failed program, edited instead of the parent
    repair_error: str | None = None  # fix: why it failed


@dataclass(frozen=True)
class MutatorSettings:
    problem: ProblemView
    models: tuple[ModelSpec, ...] = ()  # empty: the offline mutator
    diff_weight: float = 0.7
    full_weight: float = 0.3
    # A rejected answer is sent back with its reason this many times at most; None: by where the
    # model is served, and for which reasons (mutate/reask.py, `reask_policy`).
    max_retries: int | None = None
    token_budget: int = 6000  # the first prompt of an iteration, by litellm's counter for its model
    embedding_model: str | None = None  # [novelty]: each child's embedding goes with its proposal
    embedding_api_base: str | None = None
    judge: ModelSpec | None = None  # [novelty] judge
    deadline: float | None = None  # time.time() when the run's --max-seconds ends: no model call goes past it
    max_answer_kb: int = 256  # [mutation]: a larger answer is rejected, stored cut, never sent back whole
    spending: Spending | None = None  # --max-cost: every call reserves its price bound first (mutate/spending.py)
    # Models whose re-asks repeated an answer, and how often: the mutator's state (mutate/repeats.py).
    repeats: RepeatLedger = field(default_factory=RepeatLedger, compare=False)

    @property
    def offline(self) -> bool:
        return not self.models


@dataclass(frozen=True)
class Attempt:
    """An answer of the iteration's conversation that was rejected and sent back to the model."""

    prompt: str  # the conversation as sent for this answer
    answer: str | None
    answer_form: AnswerForm
    reject_reason: str
    usage: CallUsage = field(default_factory=CallUsage)


@dataclass(frozen=True)
class Proposal:
    """The iteration's outcome: its last model call (prompt, answer, costs) and what it made;
    `earlier_attempts` holds the answers before it that were rejected and sent back."""

    iteration: int
    island: int
    parent_id: int
    inspiration_ids: tuple[int, ...]
    model: str
    mutation: str
    prompt: str
    answer: str | None
    child_code: str | None  # None: no child (rejected or the call failed)
    reject_reason: str | None = None
    error: str | None = None  # the last call failed: why
    usage: CallUsage = field(default_factory=CallUsage)  # of the last call (a child's embedding's cost included)
    answer_form: AnswerForm | None = None  # how the last answer was read; None: no answer (offline, failed call)
    earlier_attempts: tuple[Attempt, ...] = ()
    idea: str | None = None  # the prose before the last answer's edit (`stated_idea`)
    second_parent_id: int | None = None  # a crossover's other parent
    embedding: tuple[float, ...] | None = None  # the child's, with [novelty] embedding_model (its cost is in `cost`)

    @property
    def total_cost(self) -> float:
        return self.usage.cost + sum(a.usage.cost for a in self.earlier_attempts)

    @property
    def total_latency(self) -> float:
        return self.usage.latency + sum(a.usage.latency for a in self.earlier_attempts)


def _rng(task: MutationTask) -> random.Random:
    return random.Random(task.seed * 1_000_003 + task.iteration)


def _pick_model(models: tuple[ModelSpec, ...], rng: random.Random) -> ModelSpec:
    return rng.choices(models, weights=[m.weight for m in models], k=1)[0]


def propose(task: MutationTask, settings: MutatorSettings, held: Hold | None = None) -> Proposal:
    """`held`: what the driver reserved of the budget for the first call when it launched this one."""
    rng = _rng(task)
    if settings.offline:
        return _propose_offline(task, settings, rng)

    model = _pick_model(settings.models, rng)
    total = settings.diff_weight + settings.full_weight
    mutation: str = Mutation.DIFF if rng.random() * total < settings.diff_weight else Mutation.FULL
    model, mutation = _chosen(task, settings, model, mutation)
    if mutation == Mutation.FIX and task.repair is not None:  # the failed program is the one edited
        task = replace(task, parent=task.repair)
    model = sized_for(model, lambda: _program_tokens(model, task))
    self_hosted = is_self_hosted(model.name, model.api_base)  # a small model, most often: its prompt and re-asks
    focused = shows_block_alone(mutation, task.parent.code, is_small(model.name, model.small))  # small.j2
    shown = {p.id for p in (*task.memory.top, *task.memory.diverse)}
    inspirations = tuple(_with_blocks(p) for p in task.inspirations if p.id not in shown)
    memory = replace(task.memory, diverse=tuple(_with_blocks(p) for p in task.memory.diverse))

    def messages_of(parts: PromptParts) -> list[dict]:
        return build_messages(
            mutation,
            settings.problem,
            task.parent,
            list(parts.inspirations),
            task.last_failure,
            parts.memory,
            task.second_parent,
            task.repair_error,
            small_model=self_hosted,
            focused=focused,
        )

    fitted = fit(
        PromptParts(inspirations, memory),
        shrink_prompt,
        lambda parts: count_tokens(model.name, messages_of(parts), model.api_base),
        settings.token_budget,
    )
    first = messages_of(fitted.state)
    messages = first
    earlier: list[Attempt] = []
    given: list[str] = []  # this iteration's answers, normalized: a re-ask that repeats one stops here
    tokens = fitted.tokens
    policy = reask_policy(settings.max_retries, self_hosted)
    retries = settings.repeats.retries(model.name, policy.retries)
    while True:
        prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
        seed = call_seed(task.seed, task.iteration, len(earlier))
        result = _priced_call(_sampling(model, len(earlier)), messages, tokens, settings, rng, held, seed)
        if result is None:  # the budget cannot hold this call: it is not made
            return _unsent(_unanswered(task, model.name, mutation, prompt), earlier)
        called = replace(
            _unanswered(task, model.name, mutation, prompt),
            answer=result.text,
            usage=result.usage,
            earlier_attempts=tuple(earlier),
        )
        if result.error is not None:
            return replace(called, error=result.error, reject_reason=f"the model call failed: {result.error}")
        answer = result.text or ""
        called, form, reason = _looked_at(task, answer, called, settings)
        if reason is None:  # a child, or our error reading the answer: the iteration ends here
            return _embedded(called, settings)
        if normalized(answer) in given:  # asked again, it would answer the same a third time
            settings.repeats.repeated(model.name)
            return replace(called, reject_reason=f"{REPEATED} ({reason})")
        given.append(normalized(answer))
        cut = result.usage.completion_tokens >= model.max_tokens  # it ran on to max_tokens
        if len(earlier) >= retries or (policy.fixable_only and not fixed_by_reask(reason, cut, focused)):
            return replace(called, reject_reason=reason)
        earlier.append(_attempt(prompt, called, form, reason))
        # The re-ask: the first prompt, the rejected answer's excerpt, the reason first and the
        # exact lines to copy (mutate/reask.py); its size does not grow with each re-ask.
        said = ReaskText.of(task.parent.code, answer, reason)
        reask = retry_message(
            settings.problem, mutation, said.reason, form, len(earlier), retries, said.copy, focused, unchanged(reason)
        )
        messages = conversation(first, said, reask, policy.echo)
        tokens = count_tokens(model.name, messages, model.api_base) if settings.spending is not None else 0


def _program_tokens(model: ModelSpec, task: MutationTask) -> int:
    """The tokens of the program the answer rewrites (the larger parent of a crossover)."""
    codes = [task.parent.code, *([task.second_parent.code] if task.second_parent else [])]
    return max(count_tokens(model.name, [{"role": "user", "content": code}], model.api_base) for code in codes)


def _attempt(prompt: str, called: Proposal, form: AnswerForm, reason: str) -> Attempt:
    """A rejected answer that is sent back, as the iteration keeps it."""
    return Attempt(prompt, called.answer, form, reason, called.usage)


def _sampling(model: ModelSpec, attempt: int) -> ModelSpec:
    """The model as call `attempt` of the iteration samples it: hotter with each re-ask."""
    return replace(model, temperature=reask_temperature(model.temperature, attempt))


NO_ROOM = "what is left of --max-cost cannot hold its price bound"


def _looked_at(
    task: MutationTask, answer: str, called: Proposal, settings: MutatorSettings
) -> tuple[Proposal, AnswerForm, str | None]:
    """The answer read: the proposal with its child (and no reason), or the reason it gave none.
    An answer over [mutation] max_answer_kb is not read: it is rejected, and stored cut to the bound."""
    limit = settings.max_answer_kb * 1024
    if size(answer) > limit:
        reason = (
            f"the answer is {size(answer) / 1024:,.0f} KB, over [mutation] max_answer_kb = {settings.max_answer_kb} KB, "
            "so it was not read; answer with the edits alone"
        )
        return replace(called, answer=clip(answer, limit), answer_form=AnswerForm.NONE), AnswerForm.NONE, reason
    try:
        reading = _read(task.parent.code, answer, settings.problem.language)
    except Exception as exc:  # our bug, or the interpreter's: the paid answer is still recorded
        log.exception("reading the answer of iteration %s failed", task.iteration)
        why = f"internal error reading the answer: {type(exc).__name__}: {exc}"[:500]
        return replace(called, reject_reason=why), AnswerForm.NONE, None
    called = replace(called, answer_form=reading.form, idea=stated_idea(answer))
    if reading.child is not None:
        return replace(called, child_code=reading.child), reading.form, None
    return called, reading.form, reading.reason or "the answer gave no child"


def _unsent(unanswered: Proposal, earlier: list[Attempt]) -> Proposal:
    """The iteration when the budget cannot hold its next call: the last rejected answer, not
    asked again, or no call at all."""
    if not earlier:
        return replace(unanswered, reject_reason=f"the model call was not made: {NO_ROOM}")
    *before, last = earlier
    return replace(
        unanswered,
        prompt=last.prompt,
        answer=last.answer,
        answer_form=last.answer_form,
        usage=last.usage,
        earlier_attempts=tuple(before),
        reject_reason=f"{last.reject_reason} (not asked again: {NO_ROOM})",
    )


def _priced_call(
    model: ModelSpec,
    messages: list[dict],
    tokens: int,
    settings: MutatorSettings,
    rng: random.Random,
    held: Hold | None,
    seed: int | None = None,
) -> Completion | None:
    """One model call once its price bound (`tokens` of prompt, max_tokens of answer) is reserved,
    in place of `held` (the driver's reservation, for the first call); None: the budget cannot hold it."""
    spending = settings.spending
    if spending is None:
        return complete(model, messages, rng, deadline=settings.deadline, seed=seed)
    hold = spending.hold(worst_case_cost(model, tokens), replacing=held)
    if hold is None:
        return None
    cost = 0.0
    try:
        result = complete(model, messages, rng, deadline=settings.deadline, seed=seed)
        cost = result.usage.cost
        return result
    finally:
        spending.settle(hold, cost)


def _read(parent: str, answer: str, language: str):
    """read_answer, once more if CPython 3.11's thread-unsafe AST conversion strikes (a SystemError:
    "AST constructor recursion depth mismatch", python/cpython#106905): it is transient."""
    try:
        return read_answer(parent, answer, language)
    except SystemError:
        return read_answer(parent, answer, language)


def _chosen(task: MutationTask, settings: MutatorSettings, model: ModelSpec, mutation: str) -> tuple[ModelSpec, str]:
    """The model and kind the search chose for this task, where it chose (and the model exists)."""
    if task.model is not None:
        model = next((m for m in settings.models if m.name == task.model), model)
    if task.mutation is not None:
        mutation = task.mutation
    if mutation == Mutation.CROSSOVER and task.second_parent is None:
        mutation = Mutation.DIFF
    if mutation == Mutation.FIX and task.repair is None:
        mutation = Mutation.DIFF
    return model, mutation


def _embedded(proposal: Proposal, settings: MutatorSettings) -> Proposal:
    """The child's embedding for novelty rejection; its cost joins the call's. A failed embedding
    call leaves the child without one (the actor then uses the local measure)."""
    if settings.embedding_model is None or proposal.child_code is None:
        return proposal
    result = embed(settings.embedding_model, proposal.child_code, settings.embedding_api_base)
    if settings.spending is not None:
        settings.spending.settle(None, result.cost)
    return replace(proposal, embedding=result.vector, usage=proposal.usage.plus_cost(result.cost))


def _with_blocks(p: ProgramView) -> ProgramView:
    """The program with its EVOLVE-BLOCK bodies alone, which is how prompts show the others."""
    return replace(p, code_blocks="".join(block_bodies(p.code)))


def _unanswered(task: MutationTask, model: str, mutation: str, prompt: str) -> Proposal:
    """The proposal before any answer: who asked, with what; no child yet."""
    return Proposal(
        iteration=task.iteration,
        island=task.island,
        parent_id=task.parent.id,
        inspiration_ids=tuple(p.id for p in task.inspirations),
        model=model,
        mutation=mutation,
        prompt=prompt,
        answer=None,
        child_code=None,
        second_parent_id=task.second_parent.id if task.second_parent and mutation == Mutation.CROSSOVER else None,
    )


def _propose_offline(task: MutationTask, settings: MutatorSettings, rng: random.Random) -> Proposal:
    proposal = _unanswered(task, OFFLINE_MODEL, Mutation.OFFLINE, "(offline mutator)")
    made = offline.mutate(task.parent.code, rng, settings.problem.language)
    child, description = made.code, made.description
    # The edit kinds go with the program as its idea ("offline: comparison, constant").
    idea = f"offline: {', '.join(dict.fromkeys(made.kinds))}" if made.kinds else None
    proposal = replace(proposal, answer=description, idea=idea)
    if child.strip() == task.parent.code.strip():
        return replace(proposal, reject_reason=f"the edit changes nothing ({description})")
    try:
        check_child(task.parent.code, child, settings.problem.language)
    except EditRejected as exc:
        return replace(proposal, reject_reason=f"{exc} ({description})")
    return replace(proposal, child_code=child)
