"""What a Ray failure around an evaluation means: the cluster's fault (a node lost, a node that
cannot run the task) or the candidate's (its worker died); and an error's plain-text gist."""

from __future__ import annotations

import re


def worker_lost(exc: Exception) -> bool:
    """A Ray failure that is the cluster's (a node or its raylet gone), not the candidate's.

    Ray 2.60 reports a node lost under a running task (its raylet killed, the machine gone) as
    NodeDiedError, whether or not its worker process died first; a worker that dies while its
    node lives is WorkerCrashedError, which stays the candidate's (an OOM kill, a crash)."""
    import ray

    return isinstance(
        exc,
        (
            ray.exceptions.NodeDiedError,
            ray.exceptions.LocalRayletDiedError,
            ray.exceptions.ActorUnavailableError,
            ray.exceptions.ObjectLostError,
        ),
    )


def node_cannot_evaluate(exc: Exception) -> bool:
    """A node that cannot run the evaluation task at all: it fails around the task, not in it
    (the task catches what the candidate does). Its evolve lacks a module ("System error: No
    module named ..."), a value does not unpickle there, its disk is full, its runtime_env fails."""
    import ray

    return isinstance(
        exc,
        (
            ray.exceptions.RaySystemError,
            ray.exceptions.RayTaskError,
            ray.exceptions.RuntimeEnvSetupError,
            ray.exceptions.OutOfDiskError,
        ),
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_line(exc: BaseException) -> str:
    """The plain-text gist of an error for a stored reason: no colour codes, no Ray task names."""
    text = _ANSI.sub("", str(getattr(exc, "cause", None) or exc)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("ray::")]
    return (lines or [type(exc).__name__])[0][:300]
