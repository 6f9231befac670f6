"""Engine speed, two measurements side by side in one run (figures go to bench/RESULTS.md).

A. Latency hiding: the model answers in 1 s (a loopback OpenAI-compatible server), each evaluation
   burns 0.5 s of CPU (bench/problems/busy), 2 evaluation workers. The evaluation-bound limit is
   cores / evaluation time; a design where a model call and an evaluation share one slot is shown
   beside it for reference.
B. Engine overhead: the offline mutator and a null sandbox (no evaluation at all), 10,000
   candidates; per-candidate wall time early (300-800 in the database) and late (9,500-10,000),
   and the population actor's memory.

Usage: python bench/engine_speed.py [--quick] [--candidates N] [--overhead-only]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(HERE)]

import psutil  # noqa: E402
import ray  # noqa: E402

from evolve.engine.options import RunOptions  # noqa: E402
from evolve.engine.run import evolve_run  # noqa: E402
from evolve.mutate.llm import ModelSpec  # noqa: E402
from evolve.problem import load_problem  # noqa: E402

from model_server import ModelServer, Reply, current_program  # noqa: E402


def actor_rss_mb() -> float:
    for proc in psutil.process_iter(["cmdline"]):
        if any(name in part for part in (proc.info["cmdline"] or []) for name in ("PopulationActor",)):
            return proc.memory_info().rss / 2**20
    return float("nan")


def unique_diff(request: dict, index: int) -> Reply:
    """A diff that is new every time (a distinct constant), so every answer is evaluated."""
    code = current_program(request)
    line = next(line for line in code.splitlines() if "return" in line and "." in line)
    new = line.replace("0.25", f"{0.25 + (index + 1) * 1e-4:.6f}", 1) if "0.25" in line else line + f"  # {index}"
    return Reply(f"<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n", delay=1.0)


def latency_hiding(iterations: int) -> dict:
    problem = load_problem(HERE / "problems" / "busy")
    busy = 0.5
    cores = 2
    stamps: list[float] = []
    seen = [0]
    last = [None]

    def on_progress(p):
        last[0] = p
        while seen[0] < p.evaluated:
            seen[0] += 1
            stamps.append(time.monotonic())

    with ModelServer(unique_diff) as server, tempfile.TemporaryDirectory() as tmp:
        options = RunOptions(
            iterations=iterations,
            llm_concurrency=8,
            eval_workers=cores,
            sandbox="process",
            models=(ModelSpec("openai/bench", api_base=server.url),),
        )
        evolve_run(problem, options, runs_root=Path(tmp), run_name="latency", on_progress=on_progress)
    warm = stamps[8:]
    rate = (len(warm) - 1) / (warm[-1] - warm[0])
    limit = cores / busy
    shared = cores / (busy + 1.0)
    return {"evaluations": len(stamps), "rate": rate, "limit": limit, "shared_slot": shared}


def overhead(total: int) -> dict:
    problem = load_problem(HERE / "problems" / "busy")
    stamps: list[float] = []
    memory: dict[int, float] = {}
    seen = [0]

    def on_progress(p):
        while seen[0] < p.completed:
            seen[0] += 1
            stamps.append(time.monotonic())
            if seen[0] in (300, total):
                memory[seen[0]] = actor_rss_mb()

    with tempfile.TemporaryDirectory() as tmp:
        options = RunOptions(
            iterations=total, llm_concurrency=8, eval_workers=2, heldout=False, sandbox="null_sandbox:NullSandbox"
        )
        evolve_run(problem, options, runs_root=Path(tmp), run_name="overhead", on_progress=on_progress)

    def per_candidate_ms(lo: int, hi: int) -> float:
        return 1000 * (stamps[hi - 1] - stamps[lo - 1]) / (hi - lo)

    late_lo = max(800, total - 500)
    return {
        "early_ms": per_candidate_ms(300, 800),
        "late_ms": per_candidate_ms(late_lo, total),
        "late_window": (late_lo, total),
        "rss_300": memory.get(300),
        "rss_total": memory.get(total),
        "total": total,
    }


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return
    quick = "--quick" in sys.argv
    candidates = int(sys.argv[sys.argv.index("--candidates") + 1]) if "--candidates" in sys.argv else None
    overhead_only = "--overhead-only" in sys.argv
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": f"{HERE}:{ROOT}"}},
    )
    a = None if overhead_only else latency_hiding(30 if quick else 80)
    b = overhead(candidates or (2000 if quick else 10_000))
    ray.shutdown()
    print("\n## Engine speed\n")
    print(f"Command: `python bench/engine_speed.py`; {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}.\n")
    if a is not None:
        print_latency_hiding(a)
    print(f"\nB. Offline mutator, null sandbox, {b['total']} candidates:\n")
    print("| candidates in the database | engine time per candidate | population actor RSS |")
    print("|---|---|---|")
    print(f"| 300-800 | {b['early_ms']:.2f} ms | {b['rss_300']:.0f} MiB (at 300) |")
    lo, hi = b["late_window"]
    print(f"| {lo}-{hi} | {b['late_ms']:.2f} ms | {b['rss_total']:.0f} MiB (at {hi}) |")
    print(f"\nlate / early ratio: {b['late_ms'] / b['early_ms']:.2f}")


def print_latency_hiding(a: dict) -> None:
    print("A. Model 1 s per call, evaluation 0.5 s of CPU, 2 evaluation workers, 8 model calls in flight:\n")
    print("| measure | candidates / s | share of the evaluation-bound limit |")
    print("|---|---|---|")
    print(f"| evaluation-bound limit (2 cores / 0.5 s) | {a['limit']:.2f} | 100% |")
    print(
        f"| evolve (steady state, {a['evaluations']} evaluations) | {a['rate']:.2f} | {100 * a['rate'] / a['limit']:.0f}% |"
    )
    print(
        f"| a shared model+evaluation slot (computed: 2 / (1 s + 0.5 s)) | {a['shared_slot']:.2f} | "
        f"{100 * a['shared_slot'] / a['limit']:.0f}% |"
    )


if __name__ == "__main__":
    main()
