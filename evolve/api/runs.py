"""`evolve.run`: one evolution run from Python, through the same path as `evolve run`.

The options are the CLI's (`RunOptions`, the same model and strategy parsing, the same sandbox
choice), the run is `evolve.engine.run.evolve_run`, and what comes back is the run's outcome as a
frozen value. A run that fails (the initial program, the machinery) raises, as the CLI exits 1.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from evolve.api.problems import PathLike, Problem
from evolve.errors import RunError
from evolve.kinds import RunStatus
from evolve.stop_reason import StopReason

if TYPE_CHECKING:
    from evolve.engine.options import Progress, RunOptions
    from evolve.engine.run import RunResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What a run found and where it left it (the run folder holds best/, summary.json, evolve.db)."""

    best_program: str | None  # None: nothing was evaluated
    best_score: float | None  # on the training data
    best_heldout_score: float | None  # on the held-out data (None: the problem has none)
    initial_score: float | None
    initial_heldout_score: float | None
    run_name: str
    run_dir: Path
    db_url: str
    status: str  # finished or stopped
    # Why it stopped: `.kind` (a StopKind: COMPLETED, PATIENCE, BUDGET...) and its words, which
    # str() gives ("completed 10 iterations", "no better program in the last 20 evaluations ...").
    stop_reason: StopReason
    candidates: int
    evaluated: int
    failed: int
    cost_usd: float
    seconds: float
    metrics: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def run(
    problem: Problem | PathLike,
    model: str | Sequence[str] | None = None,
    iterations: int | None = None,
    *,
    api_base: str | None = None,
    sandbox: str | None = None,
    seed: int | None = None,
    max_seconds: float | None = None,
    max_cost: float | None = None,
    target_score: float | None = None,
    llm_concurrency: int | None = None,
    eval_workers: int | None = None,
    strategy: str | None = None,
    patience: int | None = None,
    runs_dir: PathLike = "runs",
    name: str | None = None,
    db: str | None = None,
    ray_address: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Result:
    """Evolve `problem` (a problem folder's path or an `evolve.Problem`) and return its best.

    Every argument means what the `evolve run` flag of the same name means (`model` is `--model`,
    one or several litellm names, optionally `name@weight`; no model and no provider key: the
    offline mutator). Unset arguments take the same defaults as the CLI."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from evolve.engine.run import evolve_run, stop_local_ray
    from evolve.problem import load_problem, problem_warnings, run_defaults

    loaded = load_problem(problem.folder if isinstance(problem, Problem) else problem)
    for warning in problem_warnings(loaded):
        log.warning("%s", warning)
    options = run_options(
        model, api_base, sandbox, run_defaults(loaded), iterations=iterations, seed=seed, max_seconds=max_seconds, max_cost=max_cost,
        target_score=target_score, llm_concurrency=llm_concurrency, eval_workers=eval_workers,
        strategy=strategy, patience=patience,
    )  # fmt: skip

    def on_start(mutator: str, options: RunOptions) -> None:
        log.info("mutator: %s; sandbox: %s; evaluations at once: %s", mutator, options.sandbox, options.eval_workers)

    ray = sys.modules.get("ray")
    ray_was_running = ray is not None and ray.is_initialized()  # the caller's own Ray stays up
    try:
        outcome = evolve_run(
            loaded,
            options,
            runs_root=Path(runs_dir),
            run_name=name,
            db_url=db,
            ray_address=ray_address,
            on_progress=on_progress,
            on_start=on_start,
        )
    finally:
        if not ray_was_running:
            stop_local_ray()
    if outcome.status == RunStatus.FAILED:
        raise RunError(f"run {outcome.run_name}: {outcome.stop_reason} (its folder: {outcome.run_dir})")
    return result_of(outcome)


def run_options(
    model: str | Sequence[str] | None,
    api_base: str | None,
    sandbox: str | None,
    defaults: Mapping[str, int | float] | None = None,
    **flags: Any,
) -> RunOptions:
    """`RunOptions` as `evolve run` builds them from its flags: unset flags take the problem's
    `[run]` defaults, then RunOptions' own."""
    from evolve.cli import _parse_models, _strategy
    from evolve.engine.options import RunOptions
    from evolve.terminal import sandbox_choice

    overrides = {key: value for key, value in flags.items() if value is not None}
    if "strategy" in overrides:
        overrides["strategy"] = _strategy(overrides["strategy"])
    names = [model] if isinstance(model, str) else list(model or ())
    if names:
        overrides["models"] = _parse_models(names, api_base)
    return RunOptions(sandbox=sandbox_choice(sandbox), **{**(defaults or {}), **overrides})


def result_of(outcome: RunResult) -> Result:
    best, progress = outcome.best, outcome.progress
    return Result(
        best_program=best.code if best else None,
        best_score=best.score if best else None,
        best_heldout_score=best.heldout_score if best else None,
        initial_score=best.initial_score if best else None,
        initial_heldout_score=best.initial_heldout_score if best else None,
        metrics=MappingProxyType(dict(best.metrics) if best else {}),
        run_name=outcome.run_name,
        run_dir=outcome.run_dir,
        db_url=outcome.db_url,
        status=str(outcome.status),
        stop_reason=outcome.stop_reason,
        candidates=progress.completed,
        evaluated=progress.evaluated,
        failed=progress.failed,
        cost_usd=progress.cost,
        seconds=outcome.seconds,
    )
