"""Added latency per evaluation: process sandbox vs fresh Docker containers vs the container pool.

One trivial candidate (main() returns "ok") on the tiny test problem, N evaluations per sandbox,
all in one run on one machine. "direct" is runner.py as a plain subprocess (no sandbox at all):
the floor. Evaluations are interleaved one by one, in a shuffled order each round, so a busy
machine's noise hits every sandbox alike; before each timed evaluation the pool's background
refill is allowed to finish (what an evaluation sees when candidates do not arrive back to back).

    python bench/sandbox_overhead.py [-n 60] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evolve.resources import runner_path  # noqa: E402
from evolve.sandbox.base import EvalRequest, Limits  # noqa: E402

PROBLEM = ROOT / "tests" / "fixtures" / "hostile_problem"
CODE = 'def main():\n    return "ok"\n'
HEADING = "## Sandbox overhead"


def request() -> EvalRequest:
    limits = Limits.default(timeout=30, cpus=1, memory_mb=256, pids_limit=32, tmpfs_mb=16)
    return EvalRequest(problem_dir=str(PROBLEM), code=CODE, filename="initial_program.py", limits=limits)


class Direct:
    """No sandbox: runner.py in a plain subprocess, the floor every sandbox adds to."""

    name = "direct"

    def evaluate(self, req: EvalRequest):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / req.filename
            path.write_text(req.code)
            out = subprocess.run(
                [sys.executable, "-I", str(runner_path()), req.problem_dir, str(path), req.spec_json()],
                capture_output=True,
                cwd=tmp,
            )
        assert b'"score": 1.0' in out.stdout, out.stdout[-300:]

    def close(self):
        pass


def settle(sandbox, timeout: float = 10.0) -> None:
    """Wait for a Docker pool's background refill (bench only: reads the sandbox's bookkeeping)."""
    pending = getattr(sandbox, "_pending", None)
    end = time.monotonic() + timeout
    while pending is not None and sum(pending.values()) > 0 and time.monotonic() < end:
        time.sleep(0.01)


def timed_once(sandbox, wait_for_refill: bool = True) -> tuple[float, float]:
    """(wall seconds, seconds spent outside the runner: container start, hand-over, read-back)."""
    if wait_for_refill:
        settle(sandbox)
    else:  # back to back: an untimed evaluation right before, so its refill overlaps the timed one
        sandbox.evaluate(request())
    started = time.perf_counter()
    outcome = sandbox.evaluate(request())
    elapsed = time.perf_counter() - started
    if outcome is None:  # direct
        return elapsed, 0.0
    assert outcome.ok and outcome.score == 1.0, outcome.reason
    return elapsed, max(0.0, elapsed - outcome.duration)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=60, help="timed evaluations per sandbox")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument(
        "--write", type=Path, default=None, help="replace the '## Sandbox overhead' section of this file"
    )
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    from evolve.sandbox.docker import DockerSandbox
    from evolve.sandbox.process import ProcessSandbox

    sandboxes = {
        "direct (no sandbox)": Direct(),
        "process": ProcessSandbox(warn=False),
        "docker, fresh container (pool_size=0)": DockerSandbox(pool_size=0),
        f"docker, pool (pool_size={args.pool_size})": DockerSandbox(pool_size=args.pool_size),
        f"docker, pool (pool_size={args.pool_size}), refill still running": DockerSandbox(pool_size=args.pool_size),
    }
    samples: dict[str, list[float]] = {name: [] for name in sandboxes}
    outside: dict[str, list[float]] = {name: [] for name in sandboxes}
    rng = random.Random(args.seed)
    try:
        for sandbox in sandboxes.values():
            for _ in range(args.warmup):
                timed_once(sandbox)
        for _ in range(args.n):
            order = list(sandboxes.items())
            rng.shuffle(order)
            for name, sandbox in order:
                wall, extra = timed_once(sandbox, wait_for_refill="still running" not in name)
                samples[name].append(wall)
                outside[name].append(extra)
    finally:
        for sandbox in sandboxes.values():
            sandbox.close()

    base = statistics.median(samples["direct (no sandbox)"])
    proc = statistics.median(samples["process"])
    rows = [
        "| sandbox | median ms | p90 ms | added vs process, median ms | median / process "
        "| added vs direct, median ms | outside the runner, median ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, values in samples.items():
        med = statistics.median(values)
        rows.append(
            f"| {name} | {med * 1000:.0f} | {p90(values) * 1000:.0f} | {(med - proc) * 1000:+.0f} "
            f"| {med / proc:.2f} | {(med - base) * 1000:+.0f} | {statistics.median(outside[name]) * 1000:.1f} |"
        )
    table = "\n".join(rows)
    command = f"python bench/sandbox_overhead.py -n {args.n} --pool-size {args.pool_size} --write bench/RESULTS.md"
    machine = (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, host Python "
        f"{platform.python_version()}, Docker {_engine_version()}, image evolve-python:latest (Debian python3)"
    )
    print(table)
    if args.write:
        section = (
            f"{HEADING}\n\n"
            f'Latency of one evaluation of a trivial candidate (`main()` returns "ok"; evaluate.py runs it in\n'
            f"a child process through `evolve_eval.run_candidate`), {args.n} evaluations per sandbox, interleaved\n"
            f"one by one in a shuffled order, in one run; the pool's refill finishes before each timed\n"
            f"evaluation, except in the last row, where the next evaluation starts while the previous one's\n"
            f"replacement container is still being created. Machine: {machine}; load average at the\n"
            f"end {os.getloadavg()[0]:.1f} (other work shared the machine; the rows are side by side, so the\n"
            f"ratios hold better than the absolute figures).\n\n"
            f"Command: `{command}`\n\n{table}\n\n"
            '"Outside the runner" is the wall time minus the time from handing the job over to the\n'
            "result (the sandbox's own cost: temp dir and spawn for process; create, start, attach and\n"
            "hand-over for Docker); it does not depend on how fast each interpreter starts.\n"
            '"direct" is runner.py as a plain host subprocess (no sandbox). The host\'s Python starts\n'
            "slower than the image's (many site-packages), so a container can beat it: compare the\n"
            'Docker rows with "process", which runs the same host interpreter as direct. The pool\n'
            "hides container creation and start: what remains is the attach and the job hand-over\n"
            "(removal happens in the background). When candidates arrive back to back on a small\n"
            "machine, the refill competes with the running evaluation for CPU.\n"
        )
        write_section(args.write, section)
        print(f"\nwrote {HEADING!r} into {args.write}")


def _engine_version() -> str:
    import docker

    return docker.from_env().version().get("Version", "?")


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
