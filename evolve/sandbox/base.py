"""What every sandbox takes and gives back: plain values, so a Ray task can carry them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

MAX_RESULT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class EvalRequest:
    problem_dir: str
    code: str
    filename: str  # the candidate is written under this name (the problem's program file name)
    function: str = "evaluate"
    cascade: tuple[tuple[str, float], ...] = ()
    timeout: float = 60.0
    cpus: float = 1.0
    memory_mb: int = 1024
    pids_limit: int = 64
    tmpfs_mb: int = 64
    gpus: float = 0.0
    image: str = "evolve-python:latest"
    pin_cpus: bool = False

    @classmethod
    def for_problem(cls, problem, code: str, function: str | None = None):
        """The request for `problem`; the cascade runs before the main function only (a held-out
        evaluation scores the best program in full)."""
        ev = problem.config.evaluation
        function = function or ev.function
        return cls(
            problem_dir=str(problem.root),
            code=code,
            filename=Path(problem.config.program).name,
            function=function,
            cascade=tuple((s.function, s.threshold) for s in ev.cascade) if function == ev.function else (),
            timeout=ev.timeout,
            cpus=ev.cpus,
            memory_mb=ev.memory_mb,
            pids_limit=ev.pids_limit,
            tmpfs_mb=ev.tmpfs_mb,
            gpus=ev.gpus,
            image=ev.image,
            pin_cpus=ev.pin_cpus,
        )

    def spec_json(self) -> str:
        import json

        return json.dumps(
            {"function": self.function, "cascade": [{"function": f, "threshold": t} for f, t in self.cascade]}
        )


@dataclass(frozen=True)
class EvalOutcome:
    ok: bool
    score: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    reason: str = "ok"  # ok | timeout | memory | crash | invalid result | candidate rejected: ... | cascade: ...
    logs: str = ""
    duration: float = 0.0
    sandbox: str = ""


class Sandbox(Protocol):
    name: str

    def evaluate(self, request: EvalRequest) -> EvalOutcome: ...

    def close(self) -> None: ...
