"""The two worker pools of a run, as Ray remote code.

Mutation is I/O-bound (model calls): one threaded actor per pool runs up to `llm_concurrency`
calls at once without holding a CPU. Evaluation is CPU-bound: each candidate is a Ray task that
asks for the CPUs, GPUs and custom resources its problem declares, so it lands on a node that has
them. The two never share a slot, so a slow model never leaves an evaluator idle.
"""

from __future__ import annotations

import logging

import ray

from evolve.engine.population_db import EvalTicket
from evolve.errors import DockerUnavailable, InfrastructureError
from evolve.kinds import FailureKind
from evolve.logs import log_to_file
from evolve.mutate.propose import MutationTask, MutatorSettings, Proposal, propose
from evolve.sandbox import make_sandbox
from evolve.sandbox.base import EvalOutcome, EvalRequest

log = logging.getLogger(__name__)
_sandboxes: dict = {}


class MutatorPool:
    def __init__(self, settings: MutatorSettings):
        self.settings = settings

    def propose(self, task: MutationTask) -> Proposal:
        return propose(task, self.settings)


def sandbox_for(name: str, options: dict):
    """One sandbox per worker process, reused across candidates (the Docker pool lives in it)."""
    key = (name, tuple(sorted(options.items())))
    if key not in _sandboxes:
        for old in list(_sandboxes):  # a worker outlives a run: close the previous run's sandbox
            _sandboxes.pop(old).close()
        _sandboxes[key] = make_sandbox(name, **options)
    return _sandboxes[key]


def _drop_sandboxes() -> None:
    for box in _sandboxes.values():
        try:
            box.close()
        except Exception as exc:  # the engine that broke cannot remove its containers either
            log.warning("could not close a %s sandbox: %s", box.name, exc)
    _sandboxes.clear()


def _engine_gone(exc: Exception) -> bool:
    """The Docker SDK's ways of saying the daemon does not answer (a sandbox should raise
    DockerUnavailable itself; this catches what slips through)."""
    import requests

    try:
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - docker is a dependency
        return False
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)) or (
        isinstance(exc, DockerException) and "connection" in str(exc).lower()
    )


def evaluate_ticket(
    ticket: EvalTicket, template: EvalRequest, sandbox: str, options: dict, log_path: str | None = None
) -> EvalOutcome:
    """Evaluate one candidate. Raises InfrastructureError when the machinery failed (the driver
    retries the candidate later); anything else that goes wrong is this candidate's failure."""
    from dataclasses import replace

    log_to_file(log_path)
    request = replace(template, code=ticket.code)
    try:
        return sandbox_for(sandbox, options).evaluate(request)
    except InfrastructureError:
        _drop_sandboxes()  # a sandbox whose engine broke starts afresh on the retry
        raise
    except Exception as exc:
        if _engine_gone(exc):
            _drop_sandboxes()
            raise DockerUnavailable(f"the Docker engine stopped answering: {type(exc).__name__}: {exc}"[:400]) from None
        log.exception("the %s sandbox raised on program %s", sandbox, ticket.program_id)
        return EvalOutcome.failure(FailureKind.SANDBOX_ERROR, f"{type(exc).__name__}: {exc}"[:480], sandbox=sandbox)


def remote_mutator(settings: MutatorSettings, concurrency: int, scheduling_strategy=None):
    actor = ray.remote(MutatorPool).options(
        num_cpus=0, max_concurrency=max(1, concurrency), scheduling_strategy=scheduling_strategy
    )
    return actor.remote(settings)


def remote_evaluator(cpus: float, gpus: float, resources: dict):
    return ray.remote(evaluate_ticket).options(num_cpus=cpus, num_gpus=gpus, resources=resources or None, max_retries=0)
