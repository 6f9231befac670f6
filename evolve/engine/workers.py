"""The run's evaluations, as Ray remote code.

Evaluation is CPU-bound: each candidate is a Ray task that asks for the CPUs, GPUs and custom
resources its problem declares, so it lands on a node that has them. (Model calls are I/O-bound
and run on threads of the driver's process: evolve/engine/mutators.py; the two never share a
slot, so a slow model never leaves an evaluator idle.)

An evaluation task may run on a node that has never seen the problem: it unpacks the shipped
problem folder there (`evolve.engine.shipping`) and evaluates against that copy, and with Docker
it makes sure the node's engine has the image first. Each outcome says which node ran it. At the
end of a run one small task per node removes that run's containers from the node's own engine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import ray

from evolve.engine.shipping import ShippedProblem, ensure_image, forget_images, materialize
from evolve.engine.tickets import EvalTicket
from evolve.errors import DockerUnavailable, InfrastructureError
from evolve.kinds import FailureKind
from evolve.logs import log_to_file
from evolve.sandbox import make_sandbox
from evolve.sandbox.base import EvalOutcome, EvalRequest, SandboxKind

log = logging.getLogger(__name__)
_sandboxes: dict = {}


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
    ticket: EvalTicket,
    template: EvalRequest,
    sandbox: str,
    options: dict,
    log_path: str | None = None,
    shipped: ShippedProblem | None = None,
) -> EvalOutcome:
    """Evaluate one candidate on this node, against the shipped problem folder unpacked here.
    Raises InfrastructureError when the machinery failed (the driver retries the candidate later);
    anything else that goes wrong is this candidate's failure. The outcome names this node."""
    if log_path and Path(log_path).parent.is_dir():  # the run's folder: on the driver's node only
        log_to_file(log_path)
    node = ray.get_runtime_context().get_node_id()
    request = replace(template, code=ticket.code)
    try:
        if shipped is not None:
            request = replace(request, problem_dir=str(materialize(shipped)))
        box = sandbox_for(sandbox, options)
        if sandbox == SandboxKind.DOCKER:
            ensure_image(request.limits.image, Path(request.problem_dir), getattr(box, "client", None))
        return replace(box.evaluate(request), node=node)
    except InfrastructureError as exc:
        _drop_sandboxes()  # a sandbox whose engine broke starts afresh on the retry
        forget_images()
        exc.node = node  # type: ignore[attr-defined]  # the driver sends the next ones elsewhere
        raise
    except Exception as exc:
        if _engine_gone(exc):
            _drop_sandboxes()
            forget_images()
            gone = DockerUnavailable(f"the Docker engine stopped answering: {type(exc).__name__}: {exc}"[:400])
            gone.node = node  # type: ignore[attr-defined]
            raise gone from None
        log.exception("the %s sandbox raised on program %s", sandbox, ticket.program_id)
        return EvalOutcome.failure(
            FailureKind.SANDBOX_ERROR, f"{type(exc).__name__}: {exc}"[:480], sandbox=sandbox, node=node
        )


def remove_run_containers(run_label: str) -> int:
    """Remove a run's containers from this node's own Docker engine; how many went."""
    from evolve.sandbox.cleanup import cleanup_containers

    return cleanup_containers(run=run_label)


def clean_every_node(run_label: str, timeout: float = 60.0) -> None:
    """One cleanup task per alive node, pinned there, so each node's engine loses this run's
    containers. Never raises: a node may be gone, or have no engine; the run's end goes on."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(remove_run_containers)
    try:
        nodes = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
        refs = {
            task.options(
                num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
            ).remote(run_label): node
            for node in nodes
        }
        done, late = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
    except Exception as exc:
        log.warning("could not remove this run's containers (label evolve.run=%s): %s", run_label, exc)
        return
    for ref in done:
        try:
            ray.get(ref)
        except Exception as exc:
            log.warning(
                "could not remove this run's containers on node %s (label evolve.run=%s): %s",
                refs[ref][:12],
                run_label,
                str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__,
            )
    for ref in late:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # a task on a node that went away: nothing left to stop
            pass
        log.warning("node %s did not remove this run's containers within %.0f s", refs[ref][:12], timeout)


_evaluate_task = ray.remote(evaluate_ticket)


@dataclass(frozen=True)
class EvaluationTask:
    """The evaluation as a Ray task asking for what the problem declares; `.remote(...)` lets Ray
    place it, `.preferring(node)` asks for one node first (soft: elsewhere when that node is gone)."""

    options: dict

    def remote(self, *args):
        return _evaluate_task.options(**self.options).remote(*args)

    def preferring(self, node_id: str) -> EvaluationTask:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return EvaluationTask(
            {**self.options, "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=True)}
        )


def remote_evaluator(cpus: float, gpus: float, resources: dict) -> EvaluationTask:
    return EvaluationTask(dict(num_cpus=cpus, num_gpus=gpus, resources=resources or None, max_retries=0))
