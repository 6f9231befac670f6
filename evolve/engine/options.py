"""How a run is driven: stop conditions, concurrency, models, sandbox, store. Plain values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from evolve.mutate.llm import ModelSpec
from evolve.sandbox.base import SandboxKind


@dataclass(frozen=True)
class RunOptions:
    iterations: int = 100
    max_seconds: float | None = None
    max_cost: float | None = None  # USD
    target_score: float | None = None
    llm_concurrency: int = 8
    eval_workers: int | None = None  # None: as many as the cluster's nodes run at once
    seed: int = 0
    models: tuple[ModelSpec, ...] = ()  # empty: the problem's models, else offline
    sandbox: str = SandboxKind.PROCESS  # or a plug-in, package.module:ClassName
    sandbox_options: dict = field(default_factory=dict)
    heldout: bool = True
    model_timeout: float | None = None  # seconds per model call, for every model (problem.toml's otherwise)
    model_retries: int | None = None
    infra_wait: float = 300.0  # seconds a run waits for broken machinery (Docker, a node) before it stops
    strategy: str = "evolve"  # evolve, random or best-of-n (evolve/search/strategy.py)
    patience: int | None = None  # stop when the best has not improved in this many evaluations

    def to_dict(self) -> dict:
        """The options as JSON values (the models as tables of their fields), as a run stores them."""
        return asdict(self)

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any], where: str = "the run's stored options") -> RunOptions:
        """The options `to_dict` wrote. Keys this version does not know (a newer or older evolve
        wrote them) are left out, so an old run can still be read and resumed."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in stored.items() if key in known}
        values["models"] = tuple(ModelSpec.from_mapping(m, f"{where}: models") for m in values.get("models") or ())
        values["sandbox_options"] = dict(values.get("sandbox_options") or {})
        return cls(**values)


@dataclass(frozen=True)
class Progress:
    completed: int = 0  # attempts that ended: evaluated, rejected, duplicate or failed call
    evaluated: int = 0
    failed: int = 0  # evaluated but failed (crash, timeout, invalid)
    rejected: int = 0  # no child: edit rejected, duplicate, or the model call failed
    best_score: float | None = None
    best_id: int | None = None
    cost: float = 0.0
    last_event: str = ""
    since_best: int = 0  # evaluated children since the best last improved (--patience)
