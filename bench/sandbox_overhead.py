"""Added latency per evaluation: process sandbox vs fresh Docker containers vs the container pool.

One trivial candidate (main() returns "ok") on the tiny test problem, N evaluations per sandbox,
all in one run on one machine. "direct" is runner.py as a plain subprocess (no sandbox at all):
each sandbox's overhead is its latency minus direct's. Blocks run in rounds (direct, process,
fresh, pool, then again) so drift hits every sandbox alike.

    python bench/sandbox_overhead.py [-n 40] [--rounds 2] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evolve.sandbox.base import RUNNER, EvalRequest  # noqa: E402

PROBLEM = ROOT / "tests" / "fixtures" / "hostile_problem"
CODE = 'def main():\n    return "ok"\n'
HEADING = "## Sandbox overhead"


def request() -> EvalRequest:
    return EvalRequest(problem_dir=str(PROBLEM), code=CODE, filename="initial_program.py", timeout=30,
                       cpus=1, memory_mb=256, pids_limit=32, tmpfs_mb=16)


class Direct:
    """No sandbox: runner.py in a plain subprocess, the floor every sandbox adds to."""

    name = "direct"

    def evaluate(self, req: EvalRequest):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / req.filename
            path.write_text(req.code)
            out = subprocess.run([sys.executable, "-I", str(RUNNER), req.problem_dir, str(path), req.spec_json()],
                                 capture_output=True, cwd=tmp)
        assert b'"score": 1.0' in out.stdout, out.stdout[-300:]

    def close(self):
        pass


def timed(sandbox, n: int, warmup: int) -> list[float]:
    req = request()
    for _ in range(warmup):
        sandbox.evaluate(req)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        outcome = sandbox.evaluate(req)
        samples.append(time.perf_counter() - started)
        if outcome is not None:
            assert outcome.ok and outcome.score == 1.0, outcome.reason
    return samples


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="timed evaluations per sandbox per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--write", type=Path, default=None, help="replace the '## Sandbox overhead' section of this file")
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    from evolve.sandbox.docker import DockerSandbox
    from evolve.sandbox.process import ProcessSandbox

    sandboxes = {
        "direct (no sandbox)": Direct(),
        "process": ProcessSandbox(warn=False),
        "docker, fresh container (pool_size=0)": DockerSandbox(pool_size=0),
        f"docker, pool (pool_size={args.pool_size})": DockerSandbox(pool_size=args.pool_size),
    }
    samples: dict[str, list[float]] = {name: [] for name in sandboxes}
    try:
        for _ in range(args.rounds):
            for name, sandbox in sandboxes.items():
                samples[name] += timed(sandbox, args.n, args.warmup)
                time.sleep(1.0)  # let the pool's background refills settle before the next block
    finally:
        for sandbox in sandboxes.values():
            sandbox.close()

    base = statistics.median(samples["direct (no sandbox)"])
    proc = statistics.median(samples["process"])
    rows = ["| sandbox | median ms | p90 ms | added vs direct, median ms | median / process |",
            "|---|---:|---:|---:|---:|"]
    for name, values in samples.items():
        med = statistics.median(values)
        rows.append(f"| {name} | {med * 1000:.0f} | {p90(values) * 1000:.0f} | {(med - base) * 1000:+.0f} "
                    f"| {med / proc:.2f} |")
    table = "\n".join(rows)
    command = f"python bench/sandbox_overhead.py -n {args.n} --rounds {args.rounds} --pool-size {args.pool_size}"
    machine = f"{platform.node() and 'this machine'}: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
    print(table)
    if args.write:
        section = (
            f"{HEADING}\n\n"
            f"Latency of one evaluation of a trivial candidate (`main()` returns \"ok\"; evaluate.py runs it in\n"
            f"a child process through `evolve_eval.run_candidate`), {args.n * args.rounds} sequential evaluations\n"
            f"per sandbox, in {args.rounds} interleaved rounds, in one run. Machine: {machine}.\n\n"
            f"Command: `{command}`\n\n{table}\n\n"
            "The pool hides container creation and start: what remains is the attach, the job hand-over,\n"
            "the container's exit and its inspection (removal happens in the background). On a 2-core\n"
            "machine the pool's background refill competes with the evaluation for CPU.\n"
        )
        write_section(args.write, section)
        print(f"\nwrote {HEADING!r} into {args.write}")


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(HEADING)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + ("" if end == -1 else "\n" + text[end + 1:])
    path.write_text(text)


if __name__ == "__main__":
    main()
