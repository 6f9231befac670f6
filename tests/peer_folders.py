"""Small peer problem folders, written by us to each peer's documented contract: OpenEvolve,
ShinkaEvolve and SkyDiscover (Python and containerized evaluators). Same task in each: a program
returns numbers and the evaluator scores their sum against 10."""

from pathlib import Path

PROGRAM = """# EVOLVE-BLOCK-START
def values():
    return [1.0, 2.0, 3.0]
# EVOLVE-BLOCK-END


def run():
    return values()
"""

OPENEVOLVE_EVALUATOR = """import importlib.util

from openevolve.evaluation_result import EvaluationResult


def _total(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return sum(module.run())


def evaluate_stage1(program_path):
    total = _total(program_path)
    return {"combined_score": total / 10.0, "stage1_passed": 1.0}


async def evaluate_stage2(program_path):
    total = _total(program_path)
    return EvaluationResult(
        metrics={"combined_score": total / 5.0, "total": total, "note": "stage two"},
        artifacts={"stdout": f"total was {total}"},
    )


def evaluate(program_path):
    return evaluate_stage2(program_path)
"""

OPENEVOLVE_CONFIG = """max_iterations: 7
random_seed: 11
checkpoint_interval: 5
llm:
  primary_model: "model-a"
  primary_model_weight: 0.8
  secondary_model: "model-b"
  secondary_model_weight: 0.2
  api_base: "https://llm.example.com/v1"
  temperature: 0.5
  max_tokens: 2048
prompt:
  system_message: "Make the sum larger."
database:
  num_islands: 3
  migration_interval: 15
  archive_size: 20
evaluator:
  timeout: 30
  cascade_thresholds: [0.7]
  parallel_evaluations: 2
diff_based_evolution: false
"""

SHINKA_EVALUATE = """import numpy as np

from shinka.core import run_shinka_eval


def validate(result):
    return (len(result) == 3, "three values expected")


def aggregate(results):
    values = np.asarray(results[0])
    return {
        "combined_score": float(values.sum()) / 10.0,
        "public": {"count": int(values.shape[0]), "shape": "flat"},
        "private": {"raw_sum": float(values.sum())},
        "text_feedback": "sum them up",
    }


def main(program_path, results_dir):
    metrics, correct, error = run_shinka_eval(
        program_path=program_path,
        results_dir=results_dir,
        experiment_fn_name="run",
        num_runs=1,
        get_experiment_kwargs=lambda i: {},
        validate_fn=validate,
        aggregate_metrics_fn=aggregate,
    )
    return metrics, correct, error
"""

SHINKA_RUN_EVO = '''from shinka.core import EvolutionConfig, ShinkaEvolveRunner
from shinka.database import DatabaseConfig
from shinka.launch import LocalJobConfig

task = """Make the sum larger."""
job_config = LocalJobConfig(eval_program_path="evaluate.py", time="00:00:45")
db_config = DatabaseConfig(num_islands=2, migration_interval=9, archive_size=40)
evo_config = EvolutionConfig(
    task_sys_msg=task,
    patch_types=["diff", "full", "cross"],
    patch_type_probs=[0.6, 0.3, 0.1],
    num_generations=12,
    llm_models=["model-a", "model-b"],
    llm_kwargs=dict(temperatures=[0.0, 1.0], max_tokens=1024),
    init_program_path="initial.py",
    results_dir="results",
)
'''

SKY_CONFIG = """language: python
diff_based_generation: true
max_iterations: 5
max_solution_length: 60000
llm:
  api_base: https://llm.example.com/v1
  models:
    - name: "model-c"
      weight: 1.0
prompt:
  system_message: "Make the sum larger."
evaluator:
  timeout: 40
"""

SKY_EVALUATE_SH = """#!/usr/bin/env bash
set -euo pipefail
PROGRAM="$1"
MODE="$2"
python /benchmark/evaluator.py "$PROGRAM" "$MODE"
"""

SKY_EVALUATOR = """import importlib.util
import json
import sys

spec = importlib.util.spec_from_file_location("program", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
total = sum(module.run())
print("debug line")
print(json.dumps({"status": "success", "combined_score": total / 10.0,
                  "metrics": {"combined_score": total / 10.0, "total": total},
                  "artifacts": {"mode": sys.argv[2]}}))
"""

SKY_DOCKERFILE = """FROM python:3.12-slim
WORKDIR /benchmark
COPY . .
ENTRYPOINT ["./evaluate.sh"]
"""


def openevolve_folder(root: Path) -> Path:
    folder = root / "oe_sum"
    folder.mkdir()
    (folder / "initial_program.py").write_text(PROGRAM)
    (folder / "evaluator.py").write_text(OPENEVOLVE_EVALUATOR)
    (folder / "config.yaml").write_text(OPENEVOLVE_CONFIG)
    return folder


def shinka_folder(root: Path) -> Path:
    folder = root / "shinka_sum"
    folder.mkdir()
    (folder / "initial.py").write_text(PROGRAM)
    (folder / "evaluate.py").write_text(SHINKA_EVALUATE)
    (folder / "run_evo.py").write_text(SHINKA_RUN_EVO)
    return folder


def skydiscover_folder(root: Path) -> Path:
    folder = root / "sky_sum"
    (folder / "evaluator").mkdir(parents=True)
    (folder / "initial_program.py").write_text(PROGRAM)
    (folder / "config.yaml").write_text(SKY_CONFIG)
    (folder / "evaluator" / "evaluate.sh").write_text(SKY_EVALUATE_SH)
    (folder / "evaluator" / "evaluator.py").write_text(SKY_EVALUATOR)
    (folder / "evaluator" / "Dockerfile").write_text(SKY_DOCKERFILE)
    return folder
