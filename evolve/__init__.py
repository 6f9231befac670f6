"""evolve: evolutionary code discovery with LLM mutators, sandboxed evaluators and a Ray engine.

The Python API (`evolve.run`, `evolve.Problem`, `evolve.Result`, `evolve.StopReason`) is loaded
on first use, so that `import evolve` stays fast: Ray, litellm and the engine are imported only
when a run starts.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evolve.api.problems import Problem
    from evolve.api.runs import Result, run
    from evolve.kinds import StopKind
    from evolve.stop_reason import StopReason

try:
    __version__ = version("evolve")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Problem", "Result", "StopKind", "StopReason", "__version__", "run"]

_LAZY = {
    "run": "evolve.api.runs",
    "Result": "evolve.api.runs",
    "Problem": "evolve.api.problems",
    "StopReason": "evolve.stop_reason",
    "StopKind": "evolve.kinds",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evolve' has no attribute {name!r}")
