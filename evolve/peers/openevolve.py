"""OpenEvolve's layout: initial_program.*, evaluator.py (`evaluate(program_path)`, optional
`evaluate_stage1..3`, results as dicts or EvaluationResult), and config.yaml (or config*.yaml).

Its settings, as evolve's (docs/problems.md, "Coming from OpenEvolve"): the cascade keeps a
stage's result below its threshold (on_below = "keep"), the score is combined_score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evolve.peers.settings import (
    PeerFolder,
    PeerFormat,
    Settings,
    cascade_stages,
    find_program,
    flatten,
    load_yaml,
    model_entry,
    number,
    set_in,
)

DEFAULT_THRESHOLDS = [0.5, 0.75, 0.9]  # OpenEvolve's evaluator.cascade_thresholds


def recognises(root: Path) -> bool:
    return find_program(root, "initial_program") is not None and (root / "evaluator.py").is_file()


def config_file(root: Path) -> Path | None:
    """config.yaml, else the first config*.yaml (circle_packing has config_phase_1.yaml, ...)."""
    if (root / "config.yaml").is_file():
        return root / "config.yaml"
    found = sorted(root.glob("config*.yaml")) + sorted(root.glob("config*.yml"))
    return found[0] if found else None


def read(root: Path) -> PeerFolder:
    path = config_file(root)
    settings = Settings(path.name if path else "config.yaml", flatten(load_yaml(path)) if path else {})
    data = common(root, settings, PeerFormat.OPENEVOLVE, diff_key="diff_based_evolution")
    return PeerFolder(PeerFormat.OPENEVOLVE, data, tuple(settings.left()), path.name if path else None)


def common(root: Path, s: Settings, fmt: PeerFormat, diff_key: str) -> dict[str, Any]:
    """The settings OpenEvolve and SkyDiscover share (SkyDiscover began as OpenEvolve)."""
    program = find_program(root, "initial_program")
    assert program is not None  # recognises() found it
    data: dict[str, Any] = {"name": root.name, "program": program.name}
    set_in(data, "language", s.take("language"))
    set_in(data, "description", s.take("prompt.system_message"))
    set_in(data, "run.iterations", number(s.take("max_iterations"), "max_iterations", s.source, int))
    seed = s.take("random_seed")
    seed = s.take("database.random_seed") if seed is None else seed
    set_in(data, "run.seed", number(seed, "random_seed", s.source, int))
    set_in(data, "run.workers", number(s.take("evaluator.parallel_evaluations"), "parallel_evaluations", s.source, int))
    diff = s.take(diff_key)
    if diff is not None:
        # All diffs, or all full rewrites; evolve's crossover and fix kinds stay as they are.
        set_in(data, "mutation", {"diff": 1.0 if diff else 0.0, "full": 0.0 if diff else 1.0})
    _population(data, s)
    _models(data, s)
    _evaluation(root, data, s, fmt)
    return data


def _population(data: dict[str, Any], s: Settings) -> None:
    islands = number(s.take("database.num_islands"), "database.num_islands", s.source, int)
    set_in(data, "population.islands", islands)
    set_in(
        data,
        "population.migration_interval",
        number(s.take("database.migration_interval"), "migration_interval", s.source, int),
    )
    set_in(data, "population.exploration", number(s.take("database.exploration_ratio"), "exploration_ratio", s.source))
    set_in(
        data, "population.exploitation", number(s.take("database.exploitation_ratio"), "exploitation_ratio", s.source)
    )
    set_in(data, "novelty.threshold", number(s.take("database.similarity_threshold"), "similarity_threshold", s.source))
    set_in(data, "novelty.embedding_model", s.take("database.embedding_model"))
    set_in(data, "prompt.top", number(s.take("prompt.num_top_programs"), "num_top_programs", s.source, int))
    set_in(data, "prompt.diverse", number(s.take("prompt.num_diverse_programs"), "num_diverse_programs", s.source, int))


def _models(data: dict[str, Any], s: Settings) -> None:
    api_base = s.take("llm.api_base")
    shared = {
        "temperature": number(s.take("llm.temperature"), "llm.temperature", s.source),
        "max_tokens": number(s.take("llm.max_tokens"), "llm.max_tokens", s.source, int),
        "timeout": number(s.take("llm.timeout"), "llm.timeout", s.source),
        "retries": number(s.take("llm.retries"), "llm.retries", s.source, int),
    }
    models = []
    listed = s.take("llm.models")
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, dict) and item.get("name"):
                extra = {**shared, **{k: item[k] for k in ("temperature", "max_tokens", "timeout") if k in item}}
                models.append(
                    model_entry(str(item["name"]), item.get("weight", 1.0), item.get("api_base", api_base), extra)
                )
    for which in ("primary", "secondary"):
        name = s.take(f"llm.{which}_model")
        weight = s.take(f"llm.{which}_model_weight", 1.0)
        if name:
            models.append(model_entry(str(name), float(weight or 1.0), api_base, shared))
    if models:
        data["models"] = models


def _evaluation(root: Path, data: dict[str, Any], s: Settings, fmt: PeerFormat) -> None:
    ev: dict[str, Any] = {"evaluator": "evaluator.py", "score": "combined_score"}
    set_in(ev, "timeout", number(s.take("evaluator.timeout"), "evaluator.timeout", s.source))
    thresholds = s.take("evaluator.cascade_thresholds")
    if thresholds is None:
        thresholds = DEFAULT_THRESHOLDS if fmt == PeerFormat.OPENEVOLVE else [0.3, 0.6]
    if not isinstance(thresholds, list):
        thresholds = [thresholds]
    for i, value in enumerate(thresholds):
        number(value, f"evaluator.cascade_thresholds[{i}]", s.source)
    source = (root / "evaluator.py").read_text() if (root / "evaluator.py").is_file() else ""
    if s.take("evaluator.cascade_evaluation", True):
        function, cascade = cascade_stages(source, thresholds)
        ev["function"] = function
        if cascade:
            ev["cascade"] = cascade
            ev["on_below"] = "keep"
    data["evaluation"] = ev
