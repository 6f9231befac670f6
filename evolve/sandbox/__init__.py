"""Sandboxes run one candidate with its problem's evaluate.py and return an EvalOutcome."""

from __future__ import annotations

from evolve.errors import OptionError
from evolve.sandbox.base import EvalOutcome, EvalRequest, Sandbox, SandboxKind


class SandboxError(OptionError):
    """No sandbox of that name (a user's mistake). A sandbox that cannot run here raises
    evolve.errors.InfrastructureError instead (DockerUnavailable, ImageMissing)."""


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
    return SandboxKind.DOCKER if docker_available() else SandboxKind.PROCESS


def make_sandbox(name: str, **options) -> Sandbox:
    if name == SandboxKind.PROCESS:
        from evolve.sandbox.process import ProcessSandbox

        return ProcessSandbox(**options)
    if name == SandboxKind.DOCKER:
        from evolve.sandbox.docker import DockerSandbox

        return DockerSandbox(**options)
    if ":" in name:  # a plug-in: "package.module:ClassName" (a cluster scheduler, a benchmark stub)
        import importlib

        module_name, _, class_name = name.partition(":")
        try:
            return getattr(importlib.import_module(module_name), class_name)(**options)
        except (ImportError, AttributeError) as exc:
            raise SandboxError(f"sandbox {name!r} cannot be loaded: {exc}") from None
    raise SandboxError(f"unknown sandbox {name!r} (choose 'docker', 'process' or module:Class)")


__all__ = [
    "EvalOutcome",
    "EvalRequest",
    "Sandbox",
    "SandboxError",
    "SandboxKind",
    "default_sandbox_name",
    "make_sandbox",
]
