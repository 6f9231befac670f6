"""A new run's first proposals, sent before Ray starts.

Why: before the population can hand out a task, a run starts Ray (six processes), the population
actors and the evaluation image, and evaluates the initial program: seconds, up to tens of
seconds on a small busy machine. A model answer takes seconds too, and the first prompts need
none of that: with one program in the run, every task's parent is the initial program, with no
inspirations, no memory and no score yet. So as soon as the problem folder is checked, a new run
builds its first `llm_concurrency` tasks here and sends them on the model threads
(evolve/engine/mutators.py); the answers wait in their futures while the run starts. Once the
population is up they enter the loop as any proposal would: their parent the initial program
(its id, known only once the run is stored, is filled in then), their iterations the run's first
ones, their calls stored in llm_calls like every call.

Each call reserves its price bound first (--max-cost), as the loop's calls do. A resumed run has a
population already: it sends none. Ray starts once the first request has left (or after
FIRST_REQUEST_WAIT): its six processes would otherwise take the cores from the first prompt's
rendering and token count (0.2-0.8 s on a busy small machine), and the request a user waits on
first would wait on Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace

from evolve.logs import milestone
from evolve.mutate import direct
from evolve.mutate.memory import Memory
from evolve.mutate.propose import MutationTask, MutatorSettings, Proposal
from evolve.mutate.spending import Hold
from evolve.mutate.views import ProgramView
from evolve.problem import Problem

UNSTORED = 0  # the initial program's id until the run is stored (no row has id 0)
FIRST_REQUEST_WAIT = 3.0  # seconds Ray's start waits for the first request to leave, at most


@dataclass(frozen=True)
class FirstCall:
    """One proposal under way: its task and the future of its answer."""

    task: MutationTask
    future: Future[Proposal]


def first_task(problem: Problem, iteration: int, seed: int) -> MutationTask:
    """The task the population would hand out for `iteration` of a run holding only its initial
    program: that program as the parent, nothing else to show, no score yet."""
    islands = problem.config.population.islands
    parent = ProgramView(UNSTORED, problem.initial_code, None)
    return MutationTask(iteration, iteration % islands, parent, (), None, seed, Memory())


def send_first(
    problem: Problem,
    propose: Callable[[MutationTask, Hold], Future[Proposal]],
    count: int,
    seed: int,
    settings: MutatorSettings,
) -> tuple[FirstCall, ...]:
    """Send the run's first `count` proposals (iterations 1..count); fewer when the budget
    cannot hold another first call. `propose`: the model threads' (LocalMutators.propose).
    Returns once the first request has left, when every model is called directly (others wait
    on litellm's imports: seconds that Ray's start need not wait)."""
    spending = settings.spending
    direct.SENT.clear()
    calls = []
    for iteration in range(1, count + 1):
        held = spending.hold() if spending is not None else Hold(0.0, open=False)
        if held is None:
            break
        task = first_task(problem, iteration, seed)
        calls.append(FirstCall(task, propose(task, held)))
    if calls:
        milestone(f"first model call launched ({len(calls)} before Ray starts)")
        if all(direct.is_direct(m.name, m.api_base) for m in settings.models) and direct.SENT.wait(FIRST_REQUEST_WAIT):
            milestone("first model request sent")
    return tuple(calls)


def adopted(calls: tuple[FirstCall, ...], initial_id: int, iterations: list[int], islands: int) -> list[FirstCall]:
    """The first calls as the stored run's: their parent the initial program's row, their
    iterations those the population numbered for them (the same ones, on a new run)."""
    out = []
    for call, iteration in zip(calls, iterations, strict=True):
        task = replace(
            call.task,
            iteration=iteration,
            island=iteration % islands,
            parent=replace(call.task.parent, id=initial_id),
        )
        out.append(FirstCall(task, _as_child_of(call.future, task)))
    return out


def _as_child_of(future: Future[Proposal], task: MutationTask) -> Future[Proposal]:
    """A future of the same proposal, told its parent's id and its iteration."""
    out: Future[Proposal] = Future()

    def done(ended: Future[Proposal]) -> None:
        try:
            proposal = ended.result()
        except BaseException as exc:  # the mutator raised: the driver records it as it does any
            out.set_exception(exc)
            return
        out.set_result(replace(proposal, parent_id=task.parent.id, iteration=task.iteration, island=task.island))

    future.add_done_callback(done)
    return out
