"""Head-of-line blocking: throughput when evaluation times are heavy-tailed, before and after.

`bench/problems/heavy_tail` waits most 0.2 s, one candidate in ten 5-10 s (decided by the
candidate's number, which the loopback model writes into each answer, so both runs get the same
times). A loopback OpenAI-compatible model answers every call after a fixed latency with a
SEARCH/REPLACE that sets a new constant; 2 evaluation workers, the process sandbox. Throughput is
reported as a share of the evaluation-bound limit: the sum of the evaluations' seconds (as the
sandbox measured them, the initial program's aside) over the workers, against the wall time from
the initial program's result to the last one.

Each run is a child process of this one, importing the tree it measures: `--before TREE` is a
checkout of the code before the fix (`git worktree add /tmp/before 7ff1d92`), imported through
PYTHONPATH; the other is this checkout. The runs alternate (`--rounds`), in one invocation.

Usage: python bench/head_of_line.py --before /tmp/before [-n 80] [--rounds 1] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROBLEM = HERE / "problems" / "heavy_tail"
HEADING = "## Head-of-line blocking"
WORKERS = 2
MODEL_LATENCY = 0.3
LLM_CONCURRENCY = 4


# ---------------------------------------------------------------- one run, in a child process


def one_run(iterations: int) -> dict:
    """One run of the tree on sys.path (this process imports evolve from it)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.path.insert(0, str(ROOT / "tests"))  # model_server only: evolve comes from PYTHONPATH
    import evolve.engine.run as engine_run
    from evolve.engine.options import RunOptions
    from evolve.mutate.llm import ModelSpec
    from evolve.problem import load_problem

    from model_server import ModelServer, Reply, current_program

    def answer(request: dict, index: int) -> Reply:
        line = next(line for line in current_program(request).splitlines() if line.strip().startswith("return"))
        new = f"    return {1.0 + (index + 1) * 1e-3:.4f}  # candidate {index + 1}"
        return Reply(f"<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n", delay=MODEL_LATENCY)

    stamps: list[float] = []

    def on_progress(progress) -> None:
        while len(stamps) < progress.evaluated:
            stamps.append(time.monotonic())

    problem = load_problem(PROBLEM)
    with ModelServer(answer) as server, tempfile.TemporaryDirectory() as tmp:
        options = RunOptions(
            iterations=iterations,
            llm_concurrency=LLM_CONCURRENCY,
            eval_workers=WORKERS,
            sandbox="process",
            models=(ModelSpec("openai/bench", api_base=server.url),),
        )
        result = engine_run.evolve_run(
            problem, options, runs_root=Path(tmp), run_name="head-of-line", on_progress=on_progress
        )
        with sqlite3.connect(Path(tmp) / "head-of-line" / "evolve.db") as db:
            rows = db.execute(
                "select e.duration, p.parent_id is null from evaluations e join programs p on p.id = e.program_id "
                "where e.kind = 'train' order by e.id"
            ).fetchall()
            waited = [
                json.loads(m)["waited"]
                for (m,) in db.execute("select metrics from programs where status = 'ok' and parent_id is not null")
                if m
            ]
    children = [duration for duration, initial in rows if not initial]
    wall = stamps[-1] - stamps[0]
    return {
        "module": engine_run.__file__,
        "status": str(result.status),
        "evaluated": len(children),
        "slow": sum(1 for w in waited if w > 1),
        "eval_seconds": sum(children),
        "wall": wall,
        "limit_wall": sum(children) / WORKERS,
        "share": sum(children) / WORKERS / wall,
    }


# ---------------------------------------------------------------- side by side


def run_tree(label: str, tree: Path, iterations: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--one", "-n", str(iterations), "--json", out.name],
            env=env,
            cwd=tempfile.gettempdir(),  # nothing of this checkout on the path but what PYTHONPATH says
            check=True,
        )
        figures = json.loads(Path(out.name).read_text())
    if not Path(figures["module"]).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{label}: imported {figures['module']}, not the tree {tree}")
    return {"label": label, "tree": str(tree), "commit": commit_of(tree), **figures}


def commit_of(tree: Path) -> str:
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    return head.stdout.strip() + (" + working tree" if dirty.stdout.strip() else "")


def table(results: list[dict]) -> str:
    lines = [
        "| code | evaluations (slow) | evaluation s | evaluation-bound wall s | wall s | share of the limit |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['label']} ({r['commit']}) | {r['evaluated']} ({r['slow']}) | {r['eval_seconds']:.1f} | "
            f"{r['limit_wall']:.1f} | {r['wall']:.1f} | {100 * r['share']:.0f}% |"
        )
    return "\n".join(lines)


def machine() -> str:
    import platform

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()} / Python {platform.python_version()} / {os.cpu_count()} CPUs, load average {load:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=80, help="iterations per run (default 80)")
    parser.add_argument("--before", type=Path, help="a checkout of the code before the fix (imported via PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per tree, alternating (default 1)")
    parser.add_argument("--write", type=Path, default=None, help=f"replace the '{HEADING}' section of this file")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        args.json.write_text(json.dumps(one_run(args.n)))
        return
    trees = ([("before", args.before)] if args.before else []) + [("after", ROOT)]
    load_start = machine()
    results = [run_tree(label, tree, args.n) for _ in range(args.rounds) for label, tree in trees]
    by_label = {label: [r["share"] for r in results if r["label"] == label] for label, _ in trees}
    command = "python bench/head_of_line.py" + (f" --before {args.before}" if args.before else "")
    command += f" -n {args.n}" + (f" --rounds {args.rounds}" if args.rounds != 1 else "") + " --write bench/RESULTS.md"
    summary = ", ".join(f"{label} {100 * statistics.median(s):.0f}%" for label, s in by_label.items())
    section = "\n".join(
        [
            HEADING,
            "",
            f"Evaluation times from a heavy-tailed distribution (`bench/problems/heavy_tail`: 0.2 s, or 5-10 s for one "
            f"candidate in ten, decided by the candidate's number, the same in every run; the evaluation sleeps), a "
            f"loopback model answering each call in {MODEL_LATENCY:g} s ({LLM_CONCURRENCY} calls at a time), "
            f"{WORKERS} evaluation workers, the process sandbox, {args.n} iterations per run; the runs alternate in "
            f"one invocation, each in its own process importing its tree. Machine: {load_start} at the start, "
            f"{machine().split('load average ')[1]} at the end (other work shared it).",
            "",
            f"Command (after `git worktree add /tmp/before 7ff1d92`): `{command}`",
            "",
            table(results),
            "",
            '"Slow" counts the results that waited 5-10 s. "Evaluation s" is the sum of the evaluations\' durations as the sandbox measured them (the wait plus '
            "the interpreter's start), the initial program's aside; the evaluation-bound wall time is that sum over "
            f"the {WORKERS} workers; the share is that over the wall time from the initial program's result to the "
            "last result. Before the fix (7ff1d92) the population actor was handed each evaluation unfinished "
            "and ran its calls one at a time in submission order, so a slow evaluation held up the next task, "
            "the next proposal and the other worker's result; after it, the driver waits on each evaluation and "
            f"hands the actor only finished ones. Share of the limit (median): {summary}.",
            "",
        ]
    )
    print(section)
    if args.write:
        write_section(args.write, section)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(HEADING)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + ("" if end == -1 else "\n" + text[end + 1 :])
    path.write_text(text)


if __name__ == "__main__":
    main()
