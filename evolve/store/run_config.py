"""What a run was started (or last resumed) with, as the store keeps it in `runs.config`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evolve.problem import LANGUAGES


@dataclass(frozen=True)
class RunConfig:
    problem: dict[str, Any]  # the problem's config as resolved (ProblemConfig.model_dump())
    options: dict[str, Any]  # how the run is driven (RunOptions.to_dict())
    models: tuple[dict[str, Any], ...] = ()  # the resolved models (ModelSpec fields); empty: offline

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem, "options": self.options, "models": list(self.models)}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> RunConfig:
        """Tolerant of what older runs stored: a missing or empty config, missing parts."""
        value = value or {}
        return cls(
            problem=dict(value.get("problem") or {}),
            options=dict(value.get("options") or {}),
            models=tuple(dict(m) for m in value.get("models") or ()),
        )

    @property
    def language(self) -> str:
        """The evolving program's language (for syntax colour); python where nothing says."""
        if self.problem.get("language"):
            return str(self.problem["language"])
        program_file = str(self.problem.get("program") or "")
        suffix = "." + program_file.rsplit(".", 1)[-1] if "." in program_file else ""
        return LANGUAGES.get(suffix, "python")

    @property
    def islands(self) -> int:
        return int((self.problem.get("population") or {}).get("islands") or 1)

    @property
    def features(self) -> list[dict[str, Any]]:
        """The MAP-Elites axes (name, min, max, bins)."""
        return list((self.problem.get("population") or {}).get("features") or [])

    @property
    def has_heldout(self) -> bool:
        return bool((self.problem.get("evaluation") or {}).get("heldout_function"))
