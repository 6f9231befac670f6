"""The request every candidate's evaluation starts from, on the image its problem runs in."""

from __future__ import annotations

import sys
from collections.abc import Callable

from evolve.errors import RunError
from evolve.problem import Problem
from evolve.sandbox.base import EvalRequest, SandboxKind


def evaluation_template(
    problem: Problem, sandbox: str, code: str = "", progress: Callable[[str], None] | None = None
) -> EvalRequest:
    """The request every candidate's evaluation starts from; with Docker, on the problem's own
    image when its folder has a Dockerfile (built once, cached by the hash of its inputs), and
    the default image built first where it is missing (minutes: `progress` says so)."""
    template = EvalRequest.for_problem(problem, code=code)
    if sandbox != SandboxKind.DOCKER:
        return template
    from evolve.sandbox.checks import docker_ready
    from evolve.sandbox.images import ImageError, ensure_problem_image

    try:
        image = ensure_problem_image(problem, progress=progress or _to_stderr)
    except ImageError as exc:
        raise RunError(f"{problem.dockerfile}: the problem image does not build: {exc}") from None
    ready, why = docker_ready(image)
    if not ready:
        raise RunError(why)
    return template.on_image(image)


def _to_stderr(message: str) -> None:
    print(f"evolve: {message}", file=sys.stderr, flush=True)
