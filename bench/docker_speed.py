"""Where a Docker evaluation's time goes, against the process sandbox's, side by side (issue 19).

The evaluator burns `--busy` seconds of CPU (a process_time loop, like bench/problems/four_constants)
and reports, on the host's clock, when it started and ended, the CPU its container had used before
it started (the bootstrap's and the warm runner's interpreters, the import of evaluate.py) and the
CFS throttling its container saw. `--workers` evaluations run at once, each worker with its own
sandbox (as the engine's Ray workers do, pool_size 1), `--chain` back to back per worker, so a
pool's refill overlaps the next evaluation as in a run. Rows are interleaved, in a shuffled order
each round, so the machine's other load hits every row alike. Each Docker evaluation is timed at
each step (the pool's hand-out, the job sent, evaluate() start and end inside the container, the
result read, the return), and the refill and the removal (off the evaluation's path) are timed
too; the engine's own CPU (dockerd, containerd, the shims, runc) is sampled from /proc.

    python bench/docker_speed.py [-n 10] [--workers 2] [--chain 2] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evolve.sandbox.base import EvalRequest, Limits  # noqa: E402

HEADING = "## Docker at the process sandbox's pace"
CODE = "def constants():\n    return (1.0, 2.0, 3.0, 4.0)\n"
EVALUATE = '''"""docker_speed's problem: burn BUSY seconds of CPU, say when and what the container saw."""

import os
import time

BUSY = {busy}


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _container_cpu():
    usage = _read("/sys/fs/cgroup/cpuacct/cpuacct.usage").strip()  # cgroup v1, nanoseconds
    if usage:
        return int(usage) / 1e9
    for line in _read("/sys/fs/cgroup/cpu.stat").splitlines():  # cgroup v2
        if line.startswith("usage_usec"):
            return int(line.split()[1]) / 1e6
    return -1.0


def _throttled():
    stat = dict(line.split() for line in _read("/sys/fs/cgroup/cpu/cpu.stat").splitlines() if line.strip())
    if not stat:
        stat = dict(line.split() for line in _read("/sys/fs/cgroup/cpu.stat").splitlines() if line.strip())
    return int(stat.get("nr_throttled", 0)), int(stat.get("throttled_time", stat.get("throttled_usec", 0)))


def evaluate(program_path):
    started, before = time.time(), _container_cpu()
    written = os.stat(program_path).st_mtime  # the bootstrap (Docker) or the host (process) wrote it
    throttled = _throttled()
    end = time.process_time() + BUSY
    while time.process_time() < end:
        pass
    after = _throttled()
    return {{
        "score": 1.0,
        "t_start": started,
        "t_written": written,
        "t_end": time.time(),
        "cpu_before": before,
        "nr_throttled": after[0] - throttled[0],
        "cpu_end": _container_cpu(),
    }}
'''


def make_problem(busy: float) -> str:
    folder = tempfile.mkdtemp(prefix="evolve-bench-dockerspeed-")
    (Path(folder) / "evaluate.py").write_text(EVALUATE.format(busy=busy))
    os.chmod(folder, 0o755)
    os.chmod(Path(folder) / "evaluate.py", 0o644)
    return folder


def request(problem: str) -> EvalRequest:
    limits = Limits.default(timeout=60, cpus=1, memory_mb=512)
    return EvalRequest(problem_dir=problem, code=CODE, filename="program.py", limits=limits)


class EngineCpu:
    """CPU seconds used by the engine's processes (dockerd, containerd, shims, runc), from /proc:
    each pid's last reading less its first. Two figures: their own time (a lower bound: a runc
    that lived less than a sample is missed) and with their reaped children's (an upper bound: a
    runc that was sampled is counted again in its parent's; a shim reaps its container's first
    process, so the container's own CPU is in it too, and main() takes that out)."""

    NAMES = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc", "docker-proxy")

    def __init__(self) -> None:
        self.first: dict[int, tuple[float, float]] = {}
        self.last: dict[int, tuple[float, float]] = {}
        self.tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._sample(baseline=True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self, baseline: bool = False) -> None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            name = text[text.find("(") + 1 : text.rfind(")")]
            if not name.startswith(self.NAMES):
                continue
            fields = text.rsplit(")", 1)[1].split()
            own = sum(int(v) for v in fields[11:13]) / self.tick  # utime stime
            children = sum(int(v) for v in fields[13:15]) / self.tick  # cutime cstime
            pid = int(entry)
            self.first.setdefault(pid, (own, children) if baseline else (0.0, 0.0))
            self.last[pid] = (own, children)

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def total(self) -> tuple[float, float]:
        own = sum(self.last[pid][0] - self.first[pid][0] for pid in self.last)
        children = sum(self.last[pid][1] - self.first[pid][1] for pid in self.last)
        return own, own + children

    def stop(self) -> None:
        self._stop.set()


def instrument(sandbox, marks: dict) -> None:
    """Record a Docker sandbox's steps: the pool's hand-out, the job's round trip, the refill, the removal."""
    local = threading.local()
    take, run_in, start, remove = sandbox.pool.take, sandbox._run_in, sandbox._start_container, sandbox._remove

    def timed_take(key):
        cid = take(key)
        local.taken = time.time()
        return cid

    def timed_run_in(cid, req, cpuset):
        local.sent = time.time()
        outcome = run_in(cid, req, cpuset)
        local.read = time.time()
        return outcome

    def timed_start(key):
        began = time.time()
        cid = start(key)
        marks.setdefault("refill", []).append(time.time() - began)
        return cid

    def timed_remove(cid):
        began = time.time()
        remove(cid)
        marks.setdefault("remove", []).append(time.time() - began)

    sandbox.pool.take, sandbox._run_in = timed_take, timed_run_in
    sandbox.pool._start, sandbox._remove = timed_start, timed_remove
    sandbox.marks = local


def one(sandbox, req: EvalRequest) -> dict:
    called = time.time()
    outcome = sandbox.evaluate(req)
    returned = time.time()
    assert outcome.ok, outcome.reason + outcome.logs[-400:]
    m = outcome.metrics
    row = {
        "wall": returned - called,
        "to_eval": m["t_start"] - called,
        "eval": m["t_end"] - m["t_start"],
        "after_eval": returned - m["t_end"],
        "cpu_before": m["cpu_before"],
        "throttled": m["nr_throttled"],
        "cpu_end": m["cpu_end"],
    }
    marks = getattr(sandbox, "marks", None)
    if marks is not None:
        row |= {
            "take": marks.taken - called,
            "to_send": marks.sent - marks.taken,
            "send_to_written": m["t_written"] - marks.sent,
            "written_to_eval": m["t_start"] - m["t_written"],
            "eval_to_read": marks.read - m["t_end"],
            "read_to_return": returned - marks.read,
        }
    return row


def settle(sandboxes, timeout: float = 30.0) -> None:
    """Until every pool's refill and every removal is done (bench only: reads the pools' books)."""
    end = time.monotonic() + timeout
    for sandbox in sandboxes:
        pool = getattr(sandbox, "pool", None)
        while pool is not None and time.monotonic() < end:
            if sum(pool._pending.values()) == 0 and len(sandbox._all) <= pool.size:
                break
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="rounds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chain", type=int, default=2, help="evaluations back to back per worker and round")
    parser.add_argument("--busy", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument(
        "--before-evaluators",
        type=Path,
        default=None,
        help="the 'before' row's evaluators/ folder (the bootstrap before this change); default: this one",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from evolve.sandbox.docker import DockerSandbox
    from evolve.sandbox.process import ProcessSandbox

    problem = make_problem(args.busy)
    w = args.workers
    rows = {
        "process sandbox (warm runner)": [ProcessSandbox(warn=False) for _ in range(w)],
        "docker, under the engine's /docker cgroup (before)": [
            DockerSandbox(pool_size=1, own_cgroup=False, evaluators_dir=args.before_evaluators) for _ in range(w)
        ],
        "docker, each container's own top-level cgroup (after)": [DockerSandbox(pool_size=1) for _ in range(w)],
    }
    marks: dict[str, dict] = {row: {} for row in rows}
    for row, boxes in rows.items():
        for box in boxes:
            if hasattr(box, "pool"):
                instrument(box, marks[row])
    samples: dict[str, list[dict]] = {row: [] for row in rows}
    engine_cpu = {row: [0.0, 0.0] for row in rows}
    every = [box for boxes in rows.values() for box in boxes]
    rng = random.Random(args.seed)
    loads = [Path("/proc/loadavg").read_text().split()[0]]
    meter = EngineCpu()
    try:
        with ThreadPoolExecutor(max_workers=w) as pool:
            for boxes in rows.values():  # warm-up: pools started, servers up
                list(pool.map(lambda box: box.evaluate(request(problem)), boxes))
            settle(every)
            for _ in range(args.n):
                order = list(rows)
                rng.shuffle(order)
                for row in order:
                    before = meter.total()
                    chains = pool.map(lambda box: [one(box, request(problem)) for _ in range(args.chain)], rows[row])
                    samples[row] += [s for chain in chains for s in chain]
                    settle(every)
                    after = meter.total()
                    engine_cpu[row][0] += after[0] - before[0]
                    # The shims' reaped children include the containers' own processes: not the engine's.
                    containers = sum(x["cpu_end"] for x in samples[row][-args.workers * args.chain :])
                    engine_cpu[row][1] += after[1] - before[1] - (containers if row.startswith("docker") else 0.0)
            loads.append(Path("/proc/loadavg").read_text().split()[0])
    finally:
        meter.stop()
        for box in every:
            box.close()
        shutil.rmtree(problem, ignore_errors=True)
    report(args, rows, samples, marks, engine_cpu, loads)


def med(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f}" if values else "-"


def report(args, rows, samples, marks, engine_cpu, loads) -> None:
    process = statistics.median(s["wall"] for s in samples["process sandbox (warm runner)"])
    table = [
        "| sandbox | evaluations | wall, median ms | / process | evaluate() itself (busy loop) ms "
        "| before it ms | after it ms | container CPU before the job ms | throttled periods |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        s = samples[row]
        wall = statistics.median(x["wall"] for x in s)
        docker = row.startswith("docker")
        table.append(
            f"| {row} | {len(s)} | **{wall * 1000:.0f}** | {wall / process:.2f}x | {med([x['eval'] for x in s])} "
            f"| {med([x['to_eval'] for x in s])} | {med([x['after_eval'] for x in s])} "
            f"| {med([x['cpu_before'] for x in s]) if docker else '-'} "
            f"| {statistics.median(x['throttled'] for x in s) if docker else '-'} |"
        )
    steps = [
        ("take", "pool hands out a started container"),
        ("to_send", "refill scheduled, job encoded, sent"),
        ("send_to_written", "job sent -> the bootstrap has written the candidate (engine relay, bootstrap)"),
        ("written_to_eval", "candidate written -> evaluate() starts (hand-over to the warm runner)"),
        ("eval", "evaluate() runs (0.5 s of CPU)"),
        ("eval_to_read", "evaluate() ends -> result read on the host (runner, engine relay)"),
        ("read_to_return", "verdict, return"),
    ]
    docker_rows = [row for row in rows if row.startswith("docker")]
    breakdown = ["| step | " + " | ".join(docker_rows) + " |", "|---|" + "---:|" * len(docker_rows)]
    for key, label in steps:
        breakdown.append(f"| {label} | " + " | ".join(med([x[key] for x in samples[r]]) for r in docker_rows) + " |")
    for key, label in (("refill", "refill: create + attach + start (background)"), ("remove", "removal (background)")):
        breakdown.append(f"| {label} | " + " | ".join(med(marks[r].get(key, [])) for r in docker_rows) + " |")
    breakdown.append(
        "| engine CPU per evaluation, ms (dockerd, containerd, shims, runc; own - with reaped runc) | "
        + " | ".join(
            "{:.0f} - {:.0f}".format(*(v / max(1, len(samples[r])) * 1000 for v in engine_cpu[r])) for r in docker_rows
        )
        + " |"
    )
    command = (
        f"python bench/docker_speed.py -n {args.n} --workers {args.workers} --chain {args.chain} --busy {args.busy:g}"
        + (f" --before-evaluators {args.before_evaluators}" if args.before_evaluators else "")
    )
    text = "\n".join(table) + "\n\nDocker evaluation, step by step (median ms):\n\n" + "\n".join(breakdown)
    load = f"load average (1 min) {loads[0]} at the start, {loads[-1]} at the end; {os.cpu_count()} CPUs"
    print(text)
    print(load)
    if args.write:
        section = f"{HEADING}\n\n2026-12-07. Command: `{command} --write bench/RESULTS.md`; {load}.\n\n{text}\n"
        write_section(args.write, section)


def write_section(path: Path, section: str) -> None:
    text = path.read_text()
    start = text.find(HEADING)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + ("" if end == -1 else "\n" + text[end + 1 :])
    path.write_text(text)


if __name__ == "__main__":
    main()
