"""ShinkaEvolve's layout: initial.* (any language), evaluate.py with `main(program_path,
results_dir)` writing metrics.json / correct.json (usually through shinka.core.run_shinka_eval),
and run_evo.py and/or a YAML of settings (evo_config, db_config, max_evaluation_jobs).

run_evo.py is read, never run: its literal arguments to EvolutionConfig(...), DatabaseConfig(...)
and LocalJobConfig(...), module-level string constants (task_sys_msg), and the YAML file its
argument parser defaults to.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from evolve.errors import ProblemError
from evolve.peers.settings import (
    PeerFolder,
    PeerFormat,
    Settings,
    find_program,
    flatten,
    load_yaml,
    model_entry,
    number,
    set_in,
)

CALLS = {"EvolutionConfig": "evo_config", "DatabaseConfig": "db_config", "LocalJobConfig": "job_config"}


def recognises(root: Path) -> bool:
    evaluate = root / "evaluate.py"
    return find_program(root, "initial") is not None and evaluate.is_file() and "def main(" in evaluate.read_text()


def _literal(node: ast.AST, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {k.arg: _literal(k.value, names) for k in node.keywords if k.arg}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item, names) for item in node.elts]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def read_run_evo(path: Path) -> tuple[dict[str, Any], str | None]:
    """(settings as the YAML would hold them, the YAML file run_evo.py defaults to)."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except SyntaxError as exc:
        raise ProblemError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    names: dict[str, Any] = {}
    found: dict[str, Any] = {}
    yaml_default = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _literal(node.value, names)
            if value is not None:
                names[node.targets[0].id] = value
        if isinstance(node, ast.Call):
            func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if func in CALLS:
                section = found.setdefault(CALLS[func], {})
                section.update({k.arg: _literal(k.value, names) for k in node.keywords if k.arg})
            for k in node.keywords:
                if (
                    k.arg == "default"
                    and isinstance(k.value, ast.Constant)
                    and str(k.value.value).endswith((".yaml", ".yml"))
                ):
                    yaml_default = str(k.value.value)
    for key, value in names.items():  # run_evo.py's constants for the runner (MAX_EVALUATION_JOBS, ...)
        if key.upper() == key and key.lower() in ("max_evaluation_jobs",):
            found[key.lower()] = value
    return found, yaml_default


def read(root: Path) -> PeerFolder:
    values: dict[str, Any] = {}
    sources = []
    yaml_name = None
    if (root / "run_evo.py").is_file():
        values, yaml_name = read_run_evo(root / "run_evo.py")
        sources.append("run_evo.py")
    yamls = sorted(p.name for p in root.glob("*.yaml"))
    if yaml_name not in yamls:
        yaml_name = yamls[0] if len(yamls) == 1 or (yamls and not values) else None
    if yaml_name:
        from_yaml = load_yaml(root / yaml_name)
        for key, value in from_yaml.items():  # the YAML's sections, completed by run_evo.py's literals
            merged = {**value, **values.get(key, {})} if isinstance(value, dict) else value
            values[key] = merged
        sources.append(yaml_name)
    source = " + ".join(sources) or "defaults"
    s = Settings(source, flatten(values))
    data = _mapped(root, s)
    return PeerFolder(PeerFormat.SHINKA, data, tuple(s.left()), sources[0] if sources else None)


def _mapped(root: Path, s: Settings) -> dict[str, Any]:
    program = find_program(root, "initial")
    assert program is not None
    given = s.take("evo_config.init_program_path")
    data: dict[str, Any] = {
        "name": root.name,
        "program": given if given and (root / str(given)).is_file() else program.name,
    }
    set_in(data, "description", s.take("evo_config.task_sys_msg"))
    set_in(data, "language", s.take("evo_config.language"))
    set_in(data, "run.iterations", number(s.take("evo_config.num_generations"), "num_generations", s.source, int))
    set_in(data, "run.max_cost", number(s.take("evo_config.max_api_costs"), "max_api_costs", s.source))
    set_in(data, "run.workers", number(s.take("max_evaluation_jobs"), "max_evaluation_jobs", s.source, int))
    _mutation(data, s)
    _models(data, s)
    set_in(data, "novelty.embedding_model", s.take("evo_config.embedding_model"))
    set_in(
        data,
        "novelty.threshold",
        number(s.take("evo_config.code_embed_sim_threshold"), "code_embed_sim_threshold", s.source),
    )
    judges = s.take("evo_config.novelty_llm_models")
    if isinstance(judges, list) and judges:
        set_in(data, "novelty.judge", str(judges[0]))
    set_in(
        data,
        "prompt.insight_interval",
        number(s.take("evo_config.meta_rec_interval"), "meta_rec_interval", s.source, int),
    )
    set_in(data, "population.islands", number(s.take("db_config.num_islands"), "num_islands", s.source, int))
    set_in(
        data,
        "population.migration_interval",
        number(s.take("db_config.migration_interval"), "migration_interval", s.source, int),
    )
    set_in(
        data,
        "population.inspirations",
        number(s.take("db_config.num_archive_inspirations"), "num_archive_inspirations", s.source, int),
    )
    set_in(
        data, "prompt.top", number(s.take("db_config.num_top_k_inspirations"), "num_top_k_inspirations", s.source, int)
    )
    ev: dict[str, Any] = {
        "evaluator": "evaluate.py",
        "function": "main",
        "call": "results_dir",
        "score": "combined_score",
    }
    set_in(ev, "timeout", _seconds(s.take("job_config.time"), s.source))
    evaluator = s.take("job_config.eval_program_path")
    if evaluator and (root / str(evaluator)).is_file():
        ev["evaluator"] = str(evaluator)
    data["evaluation"] = ev
    return data


def _seconds(value: Any, source: str) -> float | None:
    """LocalJobConfig's time, "HH:MM:SS"."""
    if value is None:
        return None
    try:
        hours, minutes, seconds = (float(part) for part in str(value).split(":"))
    except ValueError:
        raise ProblemError(f"{source}: key 'job_config.time': expected HH:MM:SS, got {value!r}") from None
    return hours * 3600 + minutes * 60 + seconds


def _mutation(data: dict[str, Any], s: Settings) -> None:
    kinds = s.take("evo_config.patch_types")
    probs = s.take("evo_config.patch_type_probs")
    if not isinstance(kinds, list):
        return
    if not isinstance(probs, list) or len(probs) != len(kinds):
        probs = [1.0] * len(kinds)
    ours = {"diff": "diff", "full": "full", "cross": "crossover"}
    weights = {"diff": 0.0, "full": 0.0, "crossover": 0.0}
    for kind, prob in zip(kinds, probs, strict=True):
        if kind in ours:
            weights[ours[kind]] += float(number(prob, "patch_type_probs", s.source))
    data["mutation"] = weights


def _models(data: dict[str, Any], s: Settings) -> None:
    names = s.take("evo_config.llm_models")
    if not isinstance(names, list) or not names:
        return
    temperatures = s.take("evo_config.llm_kwargs.temperatures")
    extra: dict[str, Any] = {
        "max_tokens": number(s.take("evo_config.llm_kwargs.max_tokens"), "llm_kwargs.max_tokens", s.source, int)
    }
    if isinstance(temperatures, list) and temperatures:
        # ShinkaEvolve samples one per call; evolve's model has one: their mean.
        extra["temperature"] = sum(float(t) for t in temperatures) / len(temperatures)
    data["models"] = [model_entry(str(name), 1.0, None, extra) for name in names if name]
