"""Sandboxes run one candidate with its problem's evaluate.py and return an EvalOutcome."""

from __future__ import annotations

from evolve.sandbox.base import EvalOutcome, EvalRequest, Sandbox


class SandboxError(RuntimeError):
    """The sandbox cannot be used on this machine (no engine, no image)."""


def docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def default_sandbox_name() -> str:
    return "docker" if docker_available() else "process"


def make_sandbox(name: str, **options) -> Sandbox:
    if name == "process":
        from evolve.sandbox.process import ProcessSandbox

        return ProcessSandbox(**options)
    if name == "docker":
        from evolve.sandbox.docker import DockerSandbox

        return DockerSandbox(**options)
    raise SandboxError(f"unknown sandbox {name!r} (choose 'docker' or 'process')")


__all__ = ["EvalOutcome", "EvalRequest", "Sandbox", "SandboxError", "make_sandbox", "default_sandbox_name"]
