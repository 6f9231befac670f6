"""What a run was started (or last resumed) with, as the store keeps it in `runs.config`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evolve.engine.options import RunOptions
from evolve.mutate.llm import ModelSpec
from evolve.problem import LANGUAGES


@dataclass(frozen=True)
class RunConfig:
    # The problem's config as resolved (ProblemConfig.model_dump()). A table, not the pydantic
    # model: a run stored by an older evolve must stay readable when problem.toml's rules change.
    problem: dict[str, Any] = field(default_factory=dict)
    options: RunOptions = field(default_factory=RunOptions)  # how the run is driven
    models: tuple[ModelSpec, ...] = ()  # the resolved models; empty: offline

    def to_json(self) -> dict[str, Any]:
        """The config as `runs.config` holds it: JSON values only."""
        return {"problem": self.problem, "options": self.options.to_dict(), "models": [asdict(m) for m in self.models]}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> RunConfig:
        """Tolerant of what older runs stored: a missing or empty config, missing parts."""
        value = value or {}
        where = "the run's stored config"
        return cls(
            problem=dict(value.get("problem") or {}),
            options=RunOptions.from_dict(value.get("options") or {}),
            models=tuple(ModelSpec.from_mapping(m, f"{where}: models") for m in value.get("models") or ()),
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
