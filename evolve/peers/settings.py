"""What the peer readers share: the result type, reading YAML, and settings taken one by one so
that whatever was not taken is listed as not mapped."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from evolve.errors import ProblemError

LANGUAGES = {".py": "python", ".c": "c", ".cpp": "cpp", ".rs": "rust", ".go": "go", ".js": "javascript", ".jl": "julia"}


class PeerFormat(StrEnum):
    OPENEVOLVE = "OpenEvolve"
    SHINKA = "ShinkaEvolve"
    SKYDISCOVER = "SkyDiscover"


@dataclass(frozen=True)
class PeerFolder:
    format: PeerFormat
    data: dict[str, Any]  # problem.toml's content
    unmapped: tuple[str, ...]  # "config.yaml: database.archive_size = 20", one per setting not used
    config_file: str | None  # the peer's settings file, relative to the folder (None: defaults)

    @property
    def origin(self) -> str:
        read = f", settings from {self.config_file}" if self.config_file else ", default settings"
        return f"{self.format} folder{read}"


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProblemError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProblemError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"llm": {"timeout": 60}} -> {"llm.timeout": 60}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


class Settings:
    """A peer's settings (flattened), taken one by one; `left()` is what nothing took."""

    def __init__(self, source: str, values: dict[str, Any]):
        self.source, self._values = source, dict(values)
        self._taken: set[str] = set()

    def take(self, key: str, default: Any = None) -> Any:
        self._taken.add(key)
        return self._values.get(key, default)

    def take_prefix(self, prefix: str) -> dict[str, Any]:
        """Every setting under `prefix` (a nested mapping given as a whole)."""
        found = {k[len(prefix) :]: v for k, v in self._values.items() if k.startswith(prefix)}
        self._taken.update(prefix + k for k in found)
        return found

    def has(self, key: str) -> bool:
        return key in self._values

    def left(self) -> list[str]:
        return [f"{self.source}: {k} = {_short(v)}" for k, v in self._values.items() if k not in self._taken]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def number(value: Any, key: str, source: str, kind: type = float) -> Any:
    """A numeric setting, or a ProblemError naming it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProblemError(f"{source}: key '{key}': expected a number, got {value!r}")
    return kind(value)


def set_in(data: dict[str, Any], dotted: str, value: Any) -> None:
    """data["a"]["b"] = value for "a.b", unless value is None."""
    if value is None:
        return
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def model_entry(name: str, weight: float, api_base: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    """One [[models]] entry. A model behind an OpenAI-compatible api_base is litellm's openai/NAME."""
    entry: dict[str, Any] = {"name": f"openai/{name}" if api_base and not name.startswith("openai/") else name}
    entry["weight"] = float(weight) if weight and weight > 0 else 1.0
    if api_base:
        entry["api_base"] = api_base
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def find_program(root: Path, stem: str) -> Path | None:
    """`stem`.* in `root` in a language evolve knows (initial_program.py, initial.rs, ...)."""
    found = sorted(p for p in root.glob(f"{stem}.*") if p.suffix in LANGUAGES and p.is_file())
    return found[0] if found else None


def cascade_stages(source: str, thresholds: list[float]) -> tuple[str, list[dict[str, Any]]]:
    """OpenEvolve's cascade (SkyDiscover's too): evaluate_stage1..3 run in turn while the merged
    result reaches cascade_thresholds[i]; the last stage run is the program's result. As evolve's
    [evaluation]: the final function and the stages before it, each with its threshold."""
    stages = [f"evaluate_stage{i}" for i in (1, 2, 3) if f"def evaluate_stage{i}(" in source]
    if not stages or stages[0] != "evaluate_stage1":
        return "evaluate", []
    cascade: list[dict[str, Any]] = []
    function = stages[0]
    for i, nxt in enumerate(stages[1:]):
        if i >= len(thresholds):
            break
        cascade.append({"function": function, "threshold": float(thresholds[i])})
        function = nxt
    return function, cascade
