"""evolve: evolutionary code discovery with LLM mutators, sandboxed evaluators and a Ray engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("evolve")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
