"""How a run is driven: stop conditions, concurrency, models, sandbox, store. Plain values."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
    models: tuple[dict, ...] = ()  # ModelSpec fields; empty: the problem's models, else offline
    sandbox: str = SandboxKind.PROCESS  # or a plug-in, package.module:ClassName
    sandbox_options: dict = field(default_factory=dict)
    heldout: bool = True
    model_timeout: float | None = None  # seconds per model call, for every model (problem.toml's otherwise)
    model_retries: int | None = None
    infra_wait: float = 300.0  # seconds a run waits for broken machinery (Docker, a node) before it stops
    strategy: str = "evolve"  # evolve, random or best-of-n (evolve/search/strategy.py)
    patience: int | None = None  # stop when the best has not improved in this many evaluations

    def to_dict(self) -> dict:
        return asdict(self)


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
