"""What a finished run leaves in its folder: the best program, its metrics, and summary.json."""

from __future__ import annotations

import json
from pathlib import Path

from evolve.engine.options import Progress
from evolve.problem import Problem
from evolve.stop_reason import StopReason
from evolve.store import BestProgram


def write_outputs(
    run_dir: Path,
    problem: Problem,
    best: BestProgram,
    progress: Progress,
    reason: StopReason,
    seconds: float,
    run_name: str,
    db_url: str,
    mutator: str,
) -> None:
    best_dir = run_dir / "best"
    best_dir.mkdir(parents=True, exist_ok=True)
    (best_dir / Path(problem.config.program).name).write_text(best.code)
    (best_dir / "metrics.json").write_text(json.dumps(best.metrics_json(), indent=2))
    summary = {
        "run": run_name,
        "problem": problem.name,
        "status": reason.status.value,
        "stop_reason": reason.text,
        "stop_kind": reason.kind.value,
        "mutator": mutator,
        "db": db_url,
        "seconds": round(seconds, 2),
        "candidates": progress.completed,
        "evaluated": progress.evaluated,
        "failed": progress.failed,
        "rejected": progress.rejected,
        "cost_usd": round(progress.cost, 6),
        "initial_score": best.initial_score,
        "initial_heldout_score": best.initial_heldout_score,
        "best_score": best.score,
        "best_heldout_score": best.heldout_score,
        "best_program_id": best.id,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
