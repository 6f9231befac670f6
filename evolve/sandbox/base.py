"""What every sandbox takes and gives back: plain values, so a Ray task can carry them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from evolve.kinds import FailureKind

if TYPE_CHECKING:
    from evolve.problem import EvaluationConfig, Problem


class SandboxKind(StrEnum):
    """The sandboxes evolve ships. A sandbox option is one of these or a plug-in named
    `package.module:ClassName`, so the option itself stays a string (see `make_sandbox`)."""

    DOCKER = "docker"  # a container per evaluation: isolated
    PROCESS = "process"  # a subprocess on the host: Landlock's confinement only


@dataclass(frozen=True)
class Limits:
    """What one evaluation may use. `EvaluationConfig` (problem.toml) declares and validates
    these; this is the same set as a plain value, built from it, so their defaults live there."""

    timeout: float
    cpus: float
    memory_mb: int
    pids_limit: int
    tmpfs_mb: int
    gpus: float
    image: str
    pin_cpus: bool
    max_result_kb: int  # the most JSON evaluate() may return

    @classmethod
    def of(cls, evaluation: EvaluationConfig) -> Limits:
        return cls(**{f.name: getattr(evaluation, f.name) for f in fields(cls)})

    @classmethod
    def default(cls, **overrides: Any) -> Limits:
        """The limits of a problem.toml that sets none, with `overrides` (tests, benchmarks)."""
        from evolve.problem import EvaluationConfig  # evolve.problem imports the sandbox package

        return replace(cls.of(EvaluationConfig()), **overrides)


@dataclass(frozen=True)
class Contract:
    """How the runner calls the evaluator and reads what it returned (problem.toml's
    [evaluation] evaluator, call, score, on_below, command; docs/problems.md)."""

    evaluator: str = "evaluate.py"
    call: str = "path"  # "path": fn(program_path); "results_dir": main(program_path, results_dir); "command"
    score_key: str | None = None  # None: "score", else "combined_score"
    on_below: str = "fail"  # below a cascade threshold: "fail", or "keep" the stage's score
    command: str | None = None  # call "command": a script run as SCRIPT PROGRAM MODE (MODE: the function's name)

    @classmethod
    def of(cls, evaluation: EvaluationConfig) -> Contract:
        return cls(
            evaluator=evaluation.evaluator,
            call=str(evaluation.call),
            score_key=evaluation.score,
            on_below=str(evaluation.on_below),
            command=evaluation.command,
        )


@dataclass(frozen=True)
class EvalRequest:
    problem_dir: str
    code: str
    filename: str  # the candidate is written under this name (the problem's program file name)
    function: str = "evaluate"
    cascade: tuple[tuple[str, float], ...] = ()
    limits: Limits = field(default_factory=Limits.default)
    contract: Contract = field(default_factory=Contract)

    @classmethod
    def for_problem(cls, problem: Problem, code: str, function: str | None = None) -> EvalRequest:
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
            limits=Limits.of(ev),
            contract=Contract.of(ev),
        )

    def on_image(self, image: str) -> EvalRequest:
        return replace(self, limits=replace(self.limits, image=image))

    def spec_json(self) -> str:
        return json.dumps(
            {
                "function": self.function,
                "cascade": [{"function": f, "threshold": t} for f, t in self.cascade],
                "max_result_bytes": self.limits.max_result_kb * 1024,
                "evaluator": self.contract.evaluator,
                "style": self.contract.call,
                "score": self.contract.score_key,
                "on_below": self.contract.on_below,
                "command": self.contract.command,
            }
        )


@dataclass(frozen=True)
class EvalOutcome:
    ok: bool
    score: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    reason: str = "ok"  # "ok", or the failure's kind and what happened: "timeout: ran past 60 s ..."
    logs: str = ""
    duration: float = 0.0
    sandbox: str = ""
    kind: FailureKind | None = None  # None when ok
    node: str | None = None  # the Ray node that ran it (set by the engine's evaluation task)

    @classmethod
    def failure(cls, kind: FailureKind, detail: str, **values: Any) -> EvalOutcome:
        """A failed evaluation: its kind is stored as a value, and also opens the reason people read."""
        values.setdefault("score", None)
        return cls(ok=False, reason=f"{kind}: {detail}", kind=kind, **values)


class Sandbox(Protocol):
    name: str

    def evaluate(self, request: EvalRequest) -> EvalOutcome: ...

    def close(self) -> None: ...
