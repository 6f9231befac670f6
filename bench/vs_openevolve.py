"""evolve side by side with OpenEvolve 0.4.1: the same problem, the same model server, whole processes.

The problem (bench/problems/four_constants): four constants in an EVOLVE-BLOCK; each evaluation burns
0.5 s of CPU, then scores how close the constants are to a target. The model: one fake
OpenAI-compatible server on loopback (tests/model_server.py), 1 s per answer, each answer one
SEARCH/REPLACE block that changes one constant of the program the prompt shows as the current one
(read from the request, so it applies to evolve's prompts and to OpenEvolve's alike).

Each run is a whole process (`evolve run ...`, `openevolve-run ...`) timed from here with
time.monotonic() around it; the variants are interleaved (evolve process, evolve docker, OpenEvolve,
evolve with OpenEvolve's in-flight limits, then again), for several rounds, at each iteration count.
OpenEvolve is installed into its own virtualenv under a cache folder, never into evolve's
environment. Besides the wall time, the server's request arrival times give each process's time to
its first model request, a cgroup per run (where the machine lets us make one) gives the CPU time
of its whole process tree, and evolve's store (evolve.db) gives where an evolve run's time went.
Each run is time-limited; what a run leaves in its session or cgroup is ended, a Docker run's
containers are checked for (by the run's label) and removed, the temporary folders are deleted.

Usage:
  python bench/vs_openevolve.py --rounds 1 --iterations 10             # quick check
  python bench/vs_openevolve.py --rounds 3 --iterations 40,200 --write bench/RESULTS.md
  python bench/vs_openevolve.py --json a.json ...; python bench/vs_openevolve.py --from-json a.json b.json --write ...
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from model_server import ModelServer, Reply  # noqa: E402

PROBLEM = HERE / "problems" / "four_constants"
OPENEVOLVE_VERSION = "0.4.1"
DEFAULT_CACHE = Path.home() / ".cache" / "evolve-bench" / f"openevolve-{OPENEVOLVE_VERSION}"
BUSY_SECONDS = 0.5  # bench/problems/four_constants/evaluate.py
WORKERS = 2  # evaluations at once, both tools
MODEL_SECONDS = 1.0
SECTION = "## Side by side with OpenEvolve"


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    tool: str  # "evolve" or "openevolve"
    sandbox: str = ""
    llm_concurrency: int = 0


VARIANTS = {
    v.key: v
    for v in (
        Variant("evolve-process", "evolve, process sandbox", "evolve", "process", 8),
        Variant("evolve-docker", "evolve, docker sandbox", "evolve", "docker", 8),
        Variant("openevolve", f"OpenEvolve {OPENEVOLVE_VERSION}", "openevolve"),
        Variant("evolve-process-llm2", "evolve, process, 2 model calls at once", "evolve", "process", 2),
    )
}


# ---- the model ---------------------------------------------------------------------------------

# evolve: "# Current program (score 79.8)\nMetrics: ...\n```python\n...```";
# OpenEvolve: "# Current Program\n```python\n...```" (after "# Current Program Information").
_CURRENT = re.compile(
    r"^# Current program(?! Information)[^\n]*\n.*?```[\w-]*\n(.*?)```", re.IGNORECASE | re.MULTILINE | re.DOTALL
)
_CONSTANT = re.compile(r"^(\s*[A-Z]\s*=\s*)(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$")


class Model:
    """The server's script: 1 s, then one SEARCH/REPLACE that moves one constant of the parent."""

    def __init__(self, delay: float = MODEL_SECONDS):
        self.delay = delay
        self.unmatched = 0  # requests whose current program could not be read

    def __call__(self, request: dict, index: int) -> Reply:
        text = "\n".join(str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "user")
        match = _CURRENT.search(text)
        lines = []
        if match:
            inside = False
            for line in match.group(1).splitlines():
                if "EVOLVE-BLOCK-START" in line:
                    inside = True
                elif "EVOLVE-BLOCK-END" in line:
                    inside = False
                elif inside and _CONSTANT.match(line):
                    lines.append(line)
        if not lines:
            self.unmatched += 1
            return Reply("I cannot see the program.", delay=self.delay)
        rng = random.Random(index)
        line = rng.choice(lines)
        head, value = _CONSTANT.match(line).groups()
        new = f"{head}{float(value) + rng.gauss(0.0, 0.3):.6f}"
        return Reply(f"Move one constant.\n<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n", delay=self.delay)


# ---- the tools ---------------------------------------------------------------------------------


def ensure_openevolve(cache: Path) -> Path:
    """OpenEvolve in its own virtualenv under `cache`; reused when it is already there."""
    python = cache / "bin" / "python"
    script = cache / "bin" / "openevolve-run"
    if script.exists() and _openevolve_version(python) == OPENEVOLVE_VERSION:
        return script
    print(f"installing openevolve=={OPENEVOLVE_VERSION} into {cache} ...", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(cache)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"openevolve=={OPENEVOLVE_VERSION}"],
        check=True,
    )
    if _openevolve_version(python) != OPENEVOLVE_VERSION or not script.exists():
        sys.exit(f"openevolve {OPENEVOLVE_VERSION} did not install into {cache}")
    return script


def _openevolve_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('openevolve'))"],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def openevolve_config(path: Path, iterations: int, api_base: str) -> None:
    """OpenEvolve's settings for the same run: 2 worker processes (each does a whole iteration, the
    model call and then the evaluation), 4 islands like the problem's, diffs only, no cascade."""
    path.write_text(
        f"""max_iterations: {iterations}
random_seed: 42
diff_based_evolution: true
llm:
  api_base: "{api_base}"
  api_key: "bench"
  models:
    - name: "bench"
      weight: 1.0
  temperature: 0.7
  max_tokens: 1024
  timeout: 60
  retries: 1
  retry_delay: 1
database:
  num_islands: 4
  migration_interval: 50
evaluator:
  timeout: 30
  cascade_evaluation: false
  parallel_evaluations: {WORKERS}
"""
    )


def evolve_command(src: Path | None) -> list[str]:
    if src is not None:
        return [sys.executable, "-m", "evolve.cli"]
    # The console script beside this interpreter (a pyenv shim would add its own start-up).
    beside = Path(sys.executable).parent / "evolve"
    return [str(beside)] if beside.exists() else [shutil.which("evolve") or "evolve"]


# ---- one run -----------------------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    iterations: int
    round: int
    wall: float
    ok: bool
    rc: int | None
    calls: int
    first_request: float | None
    load_before: float
    note: str = ""
    detail: dict = field(default_factory=dict)  # evolve: from its store
    cpu: float | None = None  # CPU seconds of the process tree (its cgroup), Docker containers aside
    busy: float | None = None  # the machine's CPUs busy during the run (0-1, /proc/stat): the run and all else
    load_after: float | None = None  # the 1-minute load average as the run ended


def run_one(variant: Variant, iterations: int, rnd: int, server: ModelServer, args) -> Result:
    tmp = Path(tempfile.mkdtemp(prefix=f"vsoe-{variant.key}-"))
    name = f"vsoe-{os.getpid()}-{variant.key}-{iterations}-{rnd}"
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",)}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", OPENAI_API_KEY="bench")
    if variant.tool == "evolve":
        cmd = [
            *evolve_command(args.evolve_src),
            "run",
            str(PROBLEM),
            "-n",
            str(iterations),
            "-m",
            "openai/bench",
            "--api-base",
            server.url,
            "--sandbox",
            variant.sandbox,
            "--eval-workers",
            str(WORKERS),
            "--llm-concurrency",
            str(variant.llm_concurrency),
            "--runs-dir",
            str(tmp / "runs"),
            "--name",
            name,
            "--seed",
            "0",
        ]
        if args.evolve_src is not None:
            env["PYTHONPATH"] = str(args.evolve_src)
    else:
        for f in ("program.py", "evaluate.py"):
            shutil.copy(PROBLEM / f, tmp / f)
        openevolve_config(tmp / "config.yaml", iterations, server.url)
        cmd = [
            str(args.openevolve),
            str(tmp / "program.py"),
            str(tmp / "evaluate.py"),
            "--config",
            str(tmp / "config.yaml"),
            "--output",
            str(tmp / "out"),
            "--iterations",
            str(iterations),
        ]
    limit = 120 + 3.0 * iterations
    waited = wait_for_load(args.max_load, args.load_wait) + wait_for_quiet(args.quiet_wait)
    load = os.getloadavg()[0]
    log_path = tmp / "output.log"
    first_call = len(server.call_times)
    unmatched = server.script.unmatched
    note = f"waited {waited:.0f} s for the load to fall" if waited >= 1 else ""
    group = CpuGroup.make(name)
    if group is not None:  # the process enters its own cgroup before it execs: its tree's CPU is counted
        cmd = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group.procs), *cmd]
    cpu_before = cpu_ticks()
    with open(log_path, "wb") as log:
        wall_start = time.time()
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            rc = None
            note += f" killed after {limit:.0f} s"
            _kill_group(proc)
        end = time.monotonic()
        wall_end = time.time()
    busy = busy_share(cpu_before, cpu_ticks())
    cpu = group.seconds() if group is not None else None
    if _kill_group(proc) and rc is not None:  # what the process left behind in its session
        note += " processes left in its session after exit (ended)"
    if group is not None:
        left = group.close()
        if left:
            note += f" {left} process(es) of its tree outlived it (ended)"
    times = server.call_times[first_call:]
    output = log_path.read_text(errors="replace")
    ok = rc == 0 and (variant.tool == "evolve" or "Evolution complete" in output)
    if server.script.unmatched > unmatched:
        note += f" {server.script.unmatched - unmatched} prompt(s) without a readable current program"
    detail: dict = {}
    if variant.tool == "evolve":
        detail = evolve_detail(tmp / "runs" / name / "evolve.db", wall_start, wall_end)
        if variant.sandbox == "docker":
            left = _containers(f"evolve.run={name}-{proc.pid}")
            detail["containers_left"] = len(left)
            if left:
                note += f" {len(left)} container(s) left behind (removed)"
                subprocess.run(["docker", "rm", "-f", *left], capture_output=True)
    if not ok:
        tail = "\n".join(output.splitlines()[-25:])
        print(f"  !! {variant.key} n={iterations} failed (rc {rc}); output tail:\n{tail}", flush=True)
    if args.keep:
        print(f"  kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return Result(
        variant=variant.key,
        iterations=iterations,
        round=rnd,
        wall=end - start,
        ok=ok,
        rc=rc,
        calls=len(times),
        first_request=(times[0] - start) if times else None,
        load_before=load,
        note=note.strip(),
        detail=detail,
        cpu=cpu,
        busy=busy,
        load_after=os.getloadavg()[0],
    )


@dataclass
class CpuGroup:
    """A cgroup (v1 cpuacct, or v2) for one run's process tree: CPU time of every descendant,
    however it was started or reaped; Docker puts containers in cgroups of their own."""

    path: Path
    usage: Path
    v2: bool

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    @classmethod
    def make(cls, name: str) -> CpuGroup | None:
        for root, usage, v2 in (
            (Path("/sys/fs/cgroup/cpuacct"), "cpuacct.usage", False),
            (Path("/sys/fs/cgroup/unified"), "cpu.stat", True),
            (Path("/sys/fs/cgroup"), "cpu.stat", True),
        ):
            if v2 and not (root / "cgroup.controllers").exists():
                continue
            try:
                path = root / f"vsoe-{name}"
                path.mkdir(exist_ok=True)
            except OSError:
                continue
            if (path / usage).exists() and os.access(path / "cgroup.procs", os.W_OK):
                return cls(path, path / usage, v2)
            _rmdir(path)
        return None

    def seconds(self) -> float | None:
        try:
            text = self.usage.read_text()
        except OSError:
            return None
        if self.v2:
            match = re.search(r"^usage_usec (\d+)", text, re.MULTILINE)
            return int(match.group(1)) / 1e6 if match else None
        return int(text) / 1e9

    def close(self) -> int:
        """Ends what is left in the group, removes it; returns how many processes were left."""
        pids = self._pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self._pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        _rmdir(self.path)
        return len(pids)

    def _pids(self) -> list[int]:
        try:
            return [int(p) for p in self.procs.read_text().split()]
        except OSError:
            return []


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def wait_for_load(max_load: float, max_wait: float) -> float:
    """With --max-load: wait (at most max_wait s) until the 1-minute load average is below it."""
    start = time.monotonic()
    while max_load and os.getloadavg()[0] > max_load and time.monotonic() - start < max_wait:
        time.sleep(5)
    return time.monotonic() - start


QUIET_BUSY = 0.25  # a quiet machine: at most this share of its CPUs busy over a few seconds
QUIET_SAMPLE = 3.0


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot (/proc/stat), None where unreadable."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def wait_for_quiet(max_wait: float) -> float:
    """With --quiet-wait: wait (at most max_wait s) until the machine is quiet: at most 25% of
    its CPUs busy over a 3 s sample and the 1-minute load average under half its CPUs (the load
    average alone lags a minute behind). Returns the seconds waited."""
    start = time.monotonic()
    cpus = os.cpu_count() or 1
    while max_wait > 0 and time.monotonic() - start < max_wait:
        before = cpu_ticks()
        time.sleep(QUIET_SAMPLE)
        busy = busy_share(before, cpu_ticks())
        if busy is not None and busy <= QUIET_BUSY and os.getloadavg()[0] < cpus / 2:
            break
    return time.monotonic() - start


def _kill_group(proc: subprocess.Popen) -> bool:
    """End whatever is left in the process's session (it was started in a new one); True if
    anything was."""
    pgid = proc.pid
    proc.poll()
    if not _group_alive(pgid):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(pgid):
            proc.poll()  # reap it, so that a zombie does not count as alive
            time.sleep(0.1)
        if not _group_alive(pgid):
            break
    proc.wait()
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group is still running; an exited one waiting to be reaped by
    PID 1 (a zombie: a killed Ray worker, for up to a second) is not."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return not Path("/proc/self/stat").exists()  # no /proc: the signal's answer stands


def _containers(label: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True)
    return out.stdout.split()


def evolve_detail(db: Path, wall_start: float, wall_end: float) -> dict:
    """Where an evolve run's time went, from its store: the initial evaluation (the first row), the
    children's evaluations (first start to last end, and how busy the 2 workers were in between),
    and the time from the last evaluation to the process's exit."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            rows = con.execute("SELECT created_at, duration FROM evaluations ORDER BY created_at").fetchall()
    except sqlite3.Error as exc:
        return {"error": str(exc)}
    if len(rows) < 2:
        return {}

    def stamp(value: str) -> float:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()

    ends = [stamp(r[0]) for r in rows]
    durations = [float(r[1]) for r in rows]
    child_ends, child_durations = ends[1:], durations[1:]
    first_start = min(e - d for e, d in zip(child_ends, child_durations))
    phase = max(child_ends) - first_start
    return {
        "initial_done": ends[0] - wall_start,
        "first_child_start": first_start - wall_start,
        "phase": phase,
        "busy": sum(child_durations) / (WORKERS * phase) if phase > 0 else float("nan"),
        "eval_median": statistics.median(child_durations),
        "tail": wall_end - max(ends),
        "evaluations": len(rows),
    }


# ---- the report --------------------------------------------------------------------------------


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 1, unit: str = " s") -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def report(results: list[Result], args, machine: dict) -> str:
    keys = [k for k in args.variants if k in VARIANTS]
    out = [SECTION, ""]
    out.append(
        f"The same problem (`bench/problems/four_constants`: four constants, each evaluation burns "
        f"{BUSY_SECONDS} s of CPU, then scores the constants), the same loopback OpenAI-compatible server "
        f"({MODEL_SECONDS:.0f} s per answer, one SEARCH/REPLACE that moves one constant of the current "
        f"program, read from the prompt), {WORKERS} evaluations at once in every run; each run a whole "
        "process timed from outside (`time.monotonic()` around it), the variants interleaved, "
        f"{len({r.round for r in results})} round(s); medians, with the fastest and slowest in brackets."
    )
    out.append("")
    out.append(f"Command: `{machine['command']}`")
    out.append("")
    if args.note:
        out.append(args.note)
        out.append("")
    out.append(
        f"Machine: {machine['cpus']} CPUs, {machine['platform']}, Python {machine['python']}, "
        f"Ray {machine['ray']}, Docker {machine['docker']}, evolve at {machine['evolve']}, OpenEvolve "
        f"{OPENEVOLVE_VERSION} (own virtualenv, {machine['openevolve_python']}); {machine['date']}; "
        f"load average (1 min) {machine['load_start']:.2f} at the start, {machine['load_end']:.2f} at the end, "
        f"{machine['load_min']:.2f}-{machine['load_max']:.2f} before the runs (other work may share the machine: "
        "the rows are side by side, so the ratios hold better than the absolute figures)."
    )
    out.append("")
    out.append(
        "| iterations | run | wall time | OpenEvolve / this | evaluation-bound limit | share of the limit "
        "| first model request | model calls | CPU per candidate | failed runs |"
    )
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.iterations:
        limit = n * BUSY_SECONDS / WORKERS
        oe = med([r.wall for r in results if r.variant == "openevolve" and r.iterations == n and r.ok])
        for key in keys:
            rows = [r for r in results if r.variant == key and r.iterations == n]
            good = [r for r in rows if r.ok]
            walls = [r.wall for r in good]
            wall = med(walls)
            ratio = f"{oe / wall:.2f}x" if oe and wall else "–"
            spread = f" [{min(walls):.1f}-{max(walls):.1f}]" if len(walls) > 1 else ""
            share = f"{100 * limit / wall:.0f}%" if wall else "–"
            cpu = med([r.cpu / n for r in good if r.cpu is not None])
            cpu_text = fmt(cpu, 2) + (" (containers not counted)" if cpu and VARIANTS[key].sandbox == "docker" else "")
            out.append(
                f"| {n} | {VARIANTS[key].label} | {fmt(wall)}{spread} | {ratio} | {limit:.0f} s | {share} "
                f"| {fmt(med([r.first_request for r in good]), 2)} | {fmt(med([r.calls for r in good]), 0, '')} "
                f"| {cpu_text} | {len(rows) - len(good)} of {len(rows)} |"
            )
    out.append("")
    out.extend(first_requests(results, keys))
    out.extend(round_loads(results))
    out.append("")
    out.extend(goals(results))
    out.append("")
    out.append(
        "Settings for equal concurrency: OpenEvolve `evaluator.parallel_evaluations: 2` is its only "
        "concurrency knob: it sizes the process pool, each worker does a whole iteration (the model "
        "call, then the evaluation), and at most 2 iterations run at once (the controller queues "
        "2 x workers futures, 2 run): 2 slots, each either waiting for the model or evaluating. evolve: `--eval-workers 2` (2 evaluations at once) with its default "
        "`--llm-concurrency 8` in the main rows; the last row gives evolve OpenEvolve's in-flight "
        "limits, `--llm-concurrency 2`, so its model-bound ceiling is 2 answers/s (the limit for it "
        f"is then {MODEL_SECONDS:.0f} s x iterations / 2, twice the evaluation-bound one). Both tools "
        "run 4 islands, diffs only, seed fixed; OpenEvolve without its cascade (`cascade_evaluation: "
        "false`; the evaluator has no stages) and with its defaults otherwise (checkpoints every 100 "
        "iterations, prompts logged). The evaluation-bound limit is iterations x 0.5 s / 2 workers "
        "(the initial program's evaluation, 0.5 s more, is not in it). CPU per candidate: the CPU time of "
        "the whole process tree (a cgroup per run: Ray's daemons and workers, the process sandbox's "
        "processes, OpenEvolve's pool), over the iterations, start-up and exit included; 0.5 s of it is "
        "the evaluation's own loop; a Docker container's processes (and the Docker daemon) are not in it."
    )
    details = [r for r in results if r.detail.get("phase")]
    if details:
        out.append("")
        out.append(
            "Where evolve's time went (medians over its runs, from the process start; evaluation "
            "times from its store's rows, so to within a write's delay):"
        )
        out.append("")
        out.append(
            "| iterations | run | first model request | initial evaluation done | first child's evaluation "
            "starts | children's evaluations, first start to last end | busy share of 2 workers in it "
            "| median evaluation | last evaluation to exit |"
        )
        out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in args.iterations:
            for key in keys:
                rows = [r for r in details if r.variant == key and r.iterations == n and r.ok]
                if not rows:
                    continue

                def m(field_name: str, rows=rows) -> float | None:
                    return med([r.detail.get(field_name) for r in rows])

                busy = m("busy")
                out.append(
                    f"| {n} | {VARIANTS[key].label} | {fmt(med([r.first_request for r in rows]), 2)} "
                    f"| {fmt(m('initial_done'), 2)} | {fmt(m('first_child_start'), 2)} | {fmt(m('phase'))} "
                    f"| {'–' if busy is None else f'{100 * busy:.0f}%'} | {fmt(m('eval_median'), 3)} "
                    f"| {fmt(m('tail'), 2)} |"
                )
    waits = [float(m.group(1)) for r in results if (m := re.search(r"waited (\d+) s", r.note))]
    if waits:
        out.append("")
        out.append(
            f"With `--max-load` or `--quiet-wait`, {len(waits)} of {len(results)} runs waited for the load to "
            f"fall or the wait to run out (median {statistics.median(waits):.0f} s, at most {max(waits):.0f} s) "
            "before they started."
        )
    notes = [
        f"{r.variant} n={r.iterations} round {r.round}: {note}"
        for r in results
        if (note := re.sub(r"waited \d+ s for the load to fall", "", r.note).strip())
    ]
    if notes:
        out.append("")
        out.append("Notes: " + "; ".join(notes) + ".")
    return "\n".join(out) + "\n"


def first_requests(results: list[Result], keys: list[str]) -> list[str]:
    """Launch to the first model request, per system, over all its runs (the start-up a user feels)."""
    parts = []
    for key in keys:
        values = [r.first_request for r in results if r.variant == key and r.ok and r.first_request is not None]
        if values:
            parts.append(f"{VARIANTS[key].label} {fmt(med(values), 2)} [{min(values):.2f}-{max(values):.2f}]")
    if not parts:
        return []
    return [
        "",
        "Launch to the first model request, median of each system's runs [fastest-slowest]: " + "; ".join(parts) + ".",
    ]


def round_loads(results: list[Result]) -> list[str]:
    """The load each round ran under: the 1-minute load average before and after its runs, and
    how busy the machine's CPUs were during them (the runs themselves included)."""
    lines = []
    for rnd in sorted({r.round for r in results}):
        rows = [r for r in results if r.round == rnd]
        loads = [r.load_before for r in rows] + [r.load_after for r in rows if r.load_after is not None]
        busy = [r.busy for r in rows if r.busy is not None]
        text = f"round {rnd}: load average {min(loads):.2f}-{max(loads):.2f}"
        if busy:
            text += f", CPUs {100 * min(busy):.0f}-{100 * max(busy):.0f}% busy during its runs"
        lines.append(text)
    return ["", "Load during each round: " + "; ".join(lines) + "."] if lines else []


GOALS = {"evolve-process": (0.90, 2.7), "evolve-docker": (0.90, 2.4)}  # issue 19: share of the limit, x OpenEvolve


def goals(results: list[Result]) -> list[str]:
    """Issue 19's goals against the largest iteration count measured."""
    n = max(r.iterations for r in results)
    limit = n * BUSY_SECONDS / WORKERS

    def wall(key: str) -> float | None:
        return med([r.wall for r in results if r.variant == key and r.iterations == n and r.ok])

    oe = wall("openevolve")
    lines = []
    for key, (share, times) in GOALS.items():
        w = wall(key)
        if w is None:
            continue
        got = limit / w
        ratio = f"{oe / w:.2f}x" if oe else "–"
        verdict = "met" if got >= share and oe and oe / w >= times else "missed"
        lines.append(
            f"{VARIANTS[key].label}, {n} iterations: {100 * got:.0f}% of the evaluation-bound limit (goal "
            f"{100 * share:.0f}%), {ratio} OpenEvolve (goal {times:g}x): {verdict}."
        )
    first = med([r.first_request for r in results if r.variant.startswith("evolve") and r.ok])
    theirs = med([r.first_request for r in results if r.variant == "openevolve" and r.ok])
    if first is not None:
        verdict = "met" if first <= 2.0 and (theirs is None or first <= theirs) else "missed"
        against = f", OpenEvolve's {theirs:.1f} s" if theirs is not None else ""
        lines.append(
            f"evolve's time to its first model request, median of all its runs: {first:.1f} s (goal 2 s and no "
            f"later than OpenEvolve's{against}): {verdict}."
        )
    tail = med([r.detail.get("tail") for r in results if r.variant.startswith("evolve") and r.ok])
    if tail is not None:
        lines.append(
            f"evolve's exit after its last evaluation: {tail:.2f} s (goal under 1 s): {'met' if tail < 1 else 'missed'}."
        )
    return ["Goals of issue 19: " + " ".join(lines)] if lines else []


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of `path` (up to the next `## ` heading), or append it."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(SECTION + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        rest = text[nxt + 1 :] if nxt >= 0 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    path.write_text(text)


def machine_info(args) -> dict:
    def out(cmd: list[str], cwd: Path | None = None) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    src = args.evolve_src or ROOT
    commit = out(["git", "rev-parse", "--short", "HEAD"], src)
    dirty = out(["git", "status", "--porcelain", "--", "evolve", "evaluators", "prompts"], src)
    where = "a clean worktree of" if args.evolve_src else "the working tree at"
    evolve = f"{where} {commit}" + (" (with uncommitted changes under evolve/)" if dirty else "")
    try:
        from importlib.metadata import version

        ray_version = version("ray")
    except Exception:
        ray_version = "?"
    return {
        "cpus": os.cpu_count(),
        "platform": f"{platform.machine()} / Linux {platform.release()}",
        "python": platform.python_version(),
        "ray": ray_version,
        "docker": out(["docker", "version", "--format", "{{.Server.Version}}"]) or "?",
        "evolve": evolve,
        "openevolve_python": out([str(Path(args.openevolve).parent / "python"), "--version"]),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python bench/vs_openevolve.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }


def run_all(args, machine: dict) -> list[Result]:
    results: list[Result] = []
    with ModelServer(Model()) as server:
        for rnd in range(1, args.rounds + 1):
            for n in args.iterations:
                for key in args.variants:
                    r = run_one(VARIANTS[key], n, rnd, server, args)
                    results.append(r)
                    print(
                        f"round {rnd} n={n:<4} {key:<20} {r.wall:7.1f} s  ok={r.ok}  calls={r.calls:<4} "
                        f"first request {fmt(r.first_request, 2)}  load {r.load_before:.2f}  {r.note}",
                        flush=True,
                    )
                    machine["load_end"] = os.getloadavg()[0]
                    if args.json is not None:
                        saved = {"machine": machine, "results": [asdict(x) for x in results]}
                        args.json.write_text(json.dumps(saved, indent=1))
    machine["load_end"] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", default="40,200", help="comma-separated iteration counts")
    parser.add_argument(
        "--variants",
        default="evolve-process,evolve-docker,openevolve,evolve-process-llm2",
        help=f"comma-separated, in the order they run each round: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="OpenEvolve's virtualenv")
    parser.add_argument(
        "--evolve-src", type=Path, default=None, help="run evolve from this checkout (PYTHONPATH) instead"
    )
    parser.add_argument("--write", type=Path, default=None, help="replace or append the section in this file")
    parser.add_argument(
        "--max-load", type=float, default=0.0, help="before each run, wait until the 1-min load average is below this"
    )
    parser.add_argument("--load-wait", type=float, default=180.0, help="the longest such wait, seconds")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each run, wait at most this many seconds for a quiet machine "
        f"(<= {QUIET_BUSY:.0%} of the CPUs busy over {QUIET_SAMPLE:g} s, load average under half the CPUs)",
    )
    parser.add_argument("--json", type=Path, default=None, help="save the runs here after each one")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        default=None,
        help="no runs: report the runs saved by --json (one file or several, their rounds one after another)",
    )
    parser.add_argument("--note", default="", help="a sentence for the section, under the command")
    parser.add_argument("--keep", action="store_true", help="keep the temporary run folders")
    args = parser.parse_args()
    args.iterations = [int(n) for n in args.iterations.split(",") if n.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    if args.evolve_src is not None:
        args.evolve_src = args.evolve_src.resolve()
    if args.from_json is not None:
        results, machines = [], []
        for path in args.from_json:
            saved = json.loads(path.read_text())
            machines.append(saved["machine"])
            offset = max((r.round for r in results), default=0)
            results += [Result(**{**r, "round": r["round"] + offset}) for r in saved["results"]]
        machine = {**machines[0], "load_end": machines[-1]["load_end"]}
        machine["command"] = "; then ".join(f"`{m['command']}`" for m in machines).strip("`")
    else:
        args.openevolve = ensure_openevolve(args.cache.expanduser())
        machine = machine_info(args)
        machine["load_start"] = os.getloadavg()[0]
        results = run_all(args, machine)
    loads = [r.load_before for r in results] or [machine["load_start"]]
    machine["load_min"], machine["load_max"] = min(loads), max(loads)
    section = report(results, args, machine)
    print()
    print(section)
    if args.write:
        write_section(args.write, section)
        print(f"wrote the section to {args.write}")


if __name__ == "__main__":
    main()
