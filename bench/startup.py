"""How fast a run starts and ends: launch -> first model request, last evaluation -> exit.

Launches `evolve run` (process sandbox, a few iterations, bench/problems/four_constants) from one
or more source trees, interleaved, against one loopback OpenAI-compatible server
(tests/model_server.py, which records each request's arrival). Each launch is a whole process timed
from here; the load average before each is noted, since on a shared machine it moves the figures.
With `-v` kept, each launch's start-up milestones (evolve -v run) are printed too.

Usage:
  python bench/startup.py --src /work/main --src . --launches 3
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from vs_openevolve import PROBLEM, Model  # noqa: E402

from model_server import ModelServer  # noqa: E402


def last_evaluation(db: Path) -> float | None:
    """The wall-clock end of the run's last evaluation (from its store), as time.time()."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            row = con.execute("SELECT max(created_at) FROM evaluations").fetchone()
    except sqlite3.Error:
        return None
    if not row or row[0] is None:
        return None
    return datetime.fromisoformat(row[0]).replace(tzinfo=UTC).timestamp()


def launch(src: Path, server: ModelServer, iterations: int, verbose: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="evolve-startup-"))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=str(src))
    cmd = [sys.executable, "-m", "evolve.cli", *(["-v"] if verbose else []), "run", str(PROBLEM)]
    cmd += ["-n", str(iterations), "-m", "openai/bench", "--api-base", server.url, "--sandbox", "process"]
    cmd += ["--eval-workers", "2", "--runs-dir", str(tmp / "runs"), "--name", "startup", "--seed", "0"]
    load = os.getloadavg()[0]
    seen = len(server.call_times)
    start, wall_start = time.monotonic(), time.time()
    done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    end, wall_end = time.monotonic(), time.time()
    times = server.call_times[seen:]
    last = last_evaluation(tmp / "runs" / "startup" / "evolve.db")
    shutil.rmtree(tmp, ignore_errors=True)
    milestones = re.findall(r"(\d+\.\d+) s: (.+)", done.stdout + done.stderr)
    return {
        "rc": done.returncode,
        "load": load,
        "first_request": times[0] - start if times else None,
        "exit_after_last_evaluation": wall_end - last if last else None,
        "wall": end - start,
        "wall_start": wall_start,
        "milestones": milestones,
        "tail": (done.stdout + done.stderr)[-1500:] if done.returncode else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, action="append", required=True, help="a source tree (repeatable)")
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--model-seconds", type=float, default=0.2, help="the fake model's time per answer")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each launch's start-up milestones")
    args = parser.parse_args()
    results: dict[Path, list[dict]] = {src: [] for src in args.src}
    with ModelServer(Model(args.model_seconds)) as server:
        for n in range(args.launches):
            for src in args.src:
                r = launch(src.resolve(), server, args.iterations, args.verbose)
                results[src].append(r)
                first = f"{r['first_request']:.2f} s" if r["first_request"] is not None else "none"
                tail = r["exit_after_last_evaluation"]
                print(
                    f"{n + 1} {src}: first request {first}, exit {tail if tail is None else round(tail, 2)} s "
                    f"after the last evaluation, wall {r['wall']:.1f} s, rc {r['rc']}, load {r['load']:.2f}",
                    flush=True,
                )
                if args.verbose:
                    for at, what in r["milestones"]:
                        print(f"    {at:>7} s  {what}")
                if r["tail"]:
                    print(r["tail"])
    print("\nmedians (range):")
    for src, rows in results.items():
        for key in ("first_request", "exit_after_last_evaluation"):
            values = [r[key] for r in rows if r[key] is not None]
            if values:
                print(
                    f"  {src} {key}: {statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f}), "
                    f"load {min(r['load'] for r in rows):.1f}-{max(r['load'] for r in rows):.1f}"
                )


if __name__ == "__main__":
    main()
