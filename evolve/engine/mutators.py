"""The run's model calls, on threads of the driver's own process.

Mutation is I/O-bound: a thread waits on the model's HTTP answer without holding a core, so up to
`llm_concurrency` calls run at once here, next to the driver, with no actor to start. That keeps
the first model request off Ray's start-up path: an OpenAI-compatible server is called without
litellm (evolve/mutate/direct.py); for any other provider litellm (5-17 s of imports on a small
machine) is imported on a thread from the moment a run begins (`warm_up`), while Ray starts,
the problem is checked and the initial program is evaluated.

Every call returns a `concurrent.futures.Future`; the driver waits on them together with its Ray
references (as futures too).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from evolve.mutate.direct import is_direct
from evolve.mutate.insight import Insight, InsightContext, write_insight
from evolve.mutate.judge_call import ask_judge
from evolve.mutate.llm import ModelSpec
from evolve.mutate.propose import MutationTask, MutatorSettings, Proposal, propose
from evolve.mutate.spending import Hold
from evolve.search.judge import JudgeRequest, Verdict

log = logging.getLogger(__name__)

_warming: threading.Thread | None = None


def _import_model_client() -> None:
    try:
        from evolve.mutate.llm import model_client

        model_client()  # the import is the point: its modules are then loaded
    except Exception as exc:  # the first call says what is wrong, with its own error
        log.warning("litellm did not import: %s", exc)


def needs_litellm(models: Sequence[ModelSpec], embedding: bool = False) -> bool:
    """Whether a run calls litellm: a model not called directly (evolve/mutate/direct.py), or embeddings."""
    return embedding or any(not is_direct(m.name, m.api_base) for m in models)


def warm_up() -> None:
    """Start importing litellm on a thread (once per process); returns at once. Only for a run that
    needs it: the import holds Python's lock for seconds, slowing everything else at start-up."""
    global _warming
    if _warming is None:
        _warming = threading.Thread(target=_import_model_client, name="evolve-import-litellm", daemon=True)
        _warming.start()


def _resolved(value: Any) -> Any:
    """A Ray reference's value (the population actor's task, say), or the value itself."""
    import ray

    return ray.get(value) if isinstance(value, ray.ObjectRef) else value


class LocalMutators:
    """Proposals, novelty-judge verdicts and insights, `concurrency` at a time."""

    def __init__(self, settings: MutatorSettings, concurrency: int):
        self.settings = settings  # litellm is imported by `warm_up` (evolve_run calls it first) or by the first call
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="evolve-model")

    def propose(self, task: MutationTask | Any, held: Hold | None = None) -> Future[Proposal]:
        """`task` may be the population actor's reference to it: the thread waits for it. `held`:
        the budget reserved for its first call (released if the proposal never makes it)."""

        def run() -> Proposal:
            try:
                return propose(_resolved(task), self.settings, held)
            finally:
                if self.settings.spending is not None:
                    self.settings.spending.release(held)

        return self.pool.submit(run)

    def judge(self, request: JudgeRequest) -> Future[Verdict]:
        """The novelty judge's verdict on a near-duplicate (evolve/mutate/judge_call.py)."""
        assert self.settings.judge is not None, "a judge is asked for only when [novelty] judge is set"
        judge = self.settings.judge
        return self.pool.submit(ask_judge, request, judge, self.settings.problem)

    def write_insight(self, context: InsightContext | Any) -> Future[Insight]:
        """The run's scratchpad: one model call, on one of the pool's threads like a proposal."""
        return self.pool.submit(lambda: write_insight(_resolved(context), self.settings))

    def close(self) -> None:
        """Drop what has not started; a call in flight ends on its own timeout (threads cannot be killed)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
