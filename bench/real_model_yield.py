"""The yield of a real small model (issue 23, part 6): how many iterations give an evaluated child.

Runs `evolve run` against the local Qwen2.5-Coder-0.5B server (tests/local_model.py: llama.cpp on
loopback, built in /var/cache/evolve-local-model) on circle_packing and txn_scheduling, N
iterations each, `--llm-concurrency 1`, the process sandbox, and reports from the run's store:
the share of iterations that gave an evaluated child (and a scored one), model calls per
iteration, the calls per answer form (every AnswerForm, salvage forms included) and per reject
reason (numbers and quoted text evened out, so alike reasons count together).

Between the tools and the server sits a counting relay (tests/model_server.py forwarding each
request), so every tool's calls are counted the same way, on the same server.

  --before REV    the same runs on an older commit too (a temporary `git worktree`), for a before/after
  --openevolve    OpenEvolve 0.4.1 side by side (its own venv: bench/vs_openevolve.py's
                  ensure_openevolve), same server, problem and iterations; its children are the
                  programs of its final checkpoint found after iteration 0, its reasons its log's
                  "Iteration N error: ..." lines

Usage:
  python bench/real_model_yield.py -n 2 --problems circle_packing          # a quick check (minutes)
  python bench/real_model_yield.py --before 5db92fd --openevolve --json yield.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(HERE)]

from vs_openevolve import DEFAULT_CACHE, ensure_openevolve  # noqa: E402

import local_model  # noqa: E402
from model_server import ModelServer, Reply  # noqa: E402

PROBLEMS = ("circle_packing", "txn_scheduling")
CALL_TIMEOUT = 600.0  # seconds: one call takes 30-100 s on 2 busy cores, more when they are busier


@dataclass
class Yield:
    """One run's figures."""

    tool: str  # "evolve <rev>" or "OpenEvolve 0.4.1"
    problem: str
    iterations: int
    calls: int  # as counted by the relay
    children: int  # iterations whose child was evaluated (scored or not)
    scored: int  # ... and got a score
    wall: float
    rc: int | None
    forms: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.children / self.iterations if self.iterations else 0.0


# ---- the relay: counts calls, forwards them to the real server -----------------------------------


def relay_script(upstream: str):
    """A model_server script that forwards each request to `upstream` and returns its answer."""

    def forward(request: dict, index: int) -> Reply:
        body = json.dumps(request).encode()
        http = urllib.request.Request(
            f"{upstream}/chat/completions", body, {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(http, timeout=CALL_TIMEOUT) as response:
                answer = json.load(response)
        except OSError as exc:
            print(f"  relay: call {index} failed: {exc}", flush=True)
            return Reply(status=502)
        usage = answer.get("usage") or {}
        text = answer["choices"][0]["message"].get("content") or ""
        return Reply(
            text, prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0)
        )

    return forward


# ---- reading a run ---------------------------------------------------------------------------------

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def reason_kind(reason: str) -> str:
    """A reject reason with its particulars (quoted text, numbers, the detail after a colon or
    parenthesis) evened out: 'SEARCH block N matches nothing in the program'."""
    text = _NUMBER.sub("N", _QUOTED.sub("'…'", reason))
    for stop in (": ", " ("):
        if stop in text:
            text = text[: text.index(stop)]
    return text.strip()[:100]


def evolve_yield(db: Path, tool: str, problem: str, iterations: int, calls: int, wall: float, rc: int | None) -> Yield:
    """The figures of an evolve run, from its store (a store from an older commit may lack columns)."""
    out = Yield(tool, problem, iterations, calls, 0, 0, wall, rc)
    if not db.exists():
        return out
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        columns = {row[1] for row in con.execute("PRAGMA table_info(llm_calls)")}
        form = "answer_form" if "answer_form" in columns else "NULL"
        rows = con.execute(f"SELECT {form}, outcome, reject_reason FROM llm_calls WHERE outcome != 'judge'").fetchall()
        children = con.execute(
            "SELECT p.iteration, MAX(e.ok) FROM programs p JOIN evaluations e ON e.program_id = p.id "
            "WHERE p.iteration > 0 GROUP BY p.iteration"
        ).fetchall()
    out.forms = dict(Counter(str(r[0] or "no answer") for r in rows).most_common())
    out.reasons = dict(Counter(reason_kind(r[2]) for r in rows if r[2]).most_common())
    out.children = len(children)
    out.scored = sum(1 for _, ok in children if ok)
    return out


_OE_ERROR = re.compile(r"Iteration \d+ error(?: \[[^\]]*\])?: (.*?)(?: \| tokens:.*)?$", re.MULTILINE)


def openevolve_yield(out_dir: Path, log: str, problem: str, iterations: int, calls: int, wall: float, rc) -> Yield:
    """OpenEvolve's figures: children from its last checkpoint, reasons from its log."""
    result = Yield("OpenEvolve 0.4.1", problem, iterations, calls, 0, 0, wall, rc)
    checkpoints = sorted(out_dir.glob("checkpoints/checkpoint_*"), key=lambda p: int(p.name.split("_")[-1]))
    if checkpoints:
        for path in (checkpoints[-1] / "programs").glob("*.json"):
            program = json.loads(path.read_text())
            if program.get("iteration_found", 0) > 0:
                result.children += 1
                metrics = program.get("metrics") or {}
                result.scored += "error" not in metrics and metrics.get("combined_score", 0) > 0
    result.reasons = dict(Counter(reason_kind(m) for m in _OE_ERROR.findall(log)).most_common())
    return result


# ---- running the tools ---------------------------------------------------------------------------


def problem_copy(src: Path, dest: Path, model: str, api_base: str) -> Path:
    """The problem with the model in its problem.toml: one call may take minutes on this machine."""
    shutil.copytree(src, dest)
    with open(dest / "problem.toml", "a") as toml:
        toml.write(f'\n[[models]]\nname = "{model}"\napi_base = "{api_base}"\ntimeout = {CALL_TIMEOUT}\nretries = 1\n')
    return dest


def run_evolve(checkout: Path, tool: str, problem: str, args, relay: ModelServer, model: str) -> Yield:
    tmp = Path(tempfile.mkdtemp(prefix="yield-"))
    folder = problem_copy(checkout / "problems" / problem, tmp / problem, model, relay.url)
    cmd = [sys.executable, "-m", "evolve.cli", "run", str(folder), "-n", str(args.iterations)]
    cmd += ["--sandbox", "process", "--llm-concurrency", "1", "--eval-workers", "1", "--seed", str(args.seed)]
    cmd += ["--runs-dir", str(tmp / "runs"), "--name", "yield"]
    env = {**os.environ, "PYTHONPATH": str(checkout), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "local"}
    before = len(relay.calls)
    started = time.monotonic()
    with open(tmp / "output.log", "wb") as log:
        rc = subprocess.run(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.monotonic() - started
    if rc != 0:
        print((tmp / "output.log").read_text(errors="replace")[-3000:], flush=True)
    result = evolve_yield(
        tmp / "runs" / "yield" / "evolve.db", tool, problem, args.iterations, len(relay.calls) - before, wall, rc
    )
    _done(tmp, args.keep)
    return result


OE_EVALUATOR = '''import sys
sys.path[:0] = [{evaluators!r}, {problem!r}]
from evaluate import evaluate as problem_evaluate


def evaluate(program_path):
    """The problem's own evaluate(), its 'score' given to OpenEvolve as combined_score."""
    result = problem_evaluate(program_path)
    if "error" in result:
        return {{"combined_score": 0.0, "error": str(result["error"])}}
    return {{"combined_score": float(result["score"]), **{{k: v for k, v in result.items() if isinstance(v, (int, float))}}}}
'''


def openevolve_config(iterations: int, api_base: str, model: str) -> str:
    return f"""max_iterations: {iterations}
checkpoint_interval: {iterations}
random_seed: 42
diff_based_evolution: true
llm:
  api_base: "{api_base}"
  api_key: "local"
  models:
    - name: "{model}"
      weight: 1.0
  temperature: 0.7
  max_tokens: 4096
  timeout: {int(CALL_TIMEOUT)}
  retries: 1
database:
  num_islands: 4
evaluator:
  timeout: 60
  cascade_evaluation: false
  parallel_evaluations: 1
"""


def run_openevolve(problem: str, args, relay: ModelServer) -> Yield:
    script = ensure_openevolve(args.openevolve_cache)
    tmp = Path(tempfile.mkdtemp(prefix="yield-oe-"))
    source = ROOT / "problems" / problem
    shutil.copy(source / "initial_program.py", tmp / "initial_program.py")
    (tmp / "evaluator.py").write_text(OE_EVALUATOR.format(evaluators=str(ROOT / "evaluators"), problem=str(source)))
    (tmp / "config.yaml").write_text(openevolve_config(args.iterations, relay.url, local_model.MODEL_ALIAS))
    cmd = [
        str(script),
        str(tmp / "initial_program.py"),
        str(tmp / "evaluator.py"),
        "--config",
        str(tmp / "config.yaml"),
    ]
    cmd += ["--output", str(tmp / "out"), "--iterations", str(args.iterations)]
    before = len(relay.calls)
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    # Its log file holds what it printed (once); without one, what it printed.
    files = sorted((tmp / "out" / "logs").glob("*.log"))
    log = "".join(path.read_text(errors="replace") for path in files) if files else done.stdout + done.stderr
    result = openevolve_yield(
        tmp / "out", log, problem, args.iterations, len(relay.calls) - before, wall, done.returncode
    )
    _done(tmp, args.keep)
    return result


def _done(tmp: Path, keep: bool) -> None:
    if keep:
        print(f"  kept {tmp}", flush=True)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def check_package_data(checkout: Path) -> None:
    """Warn when `evolve.prompts` would come from another checkout (an editable install's mapping):
    the figures would then be of that checkout's prompts."""
    probe = "from evolve.resources import prompts_dir; print(prompts_dir().resolve())"
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    found = subprocess.run([sys.executable, "-c", probe], cwd=checkout, env=env, capture_output=True, text=True)
    where = found.stdout.strip()
    if where != str((checkout / "prompts").resolve()):
        print(
            f"warning: {checkout} runs with the prompts of {where or '(none)'}; link evolve/prompts -> ../prompts",
            flush=True,
        )


def older_checkout(rev: str) -> Path:
    """A temporary worktree of `rev`, with the package-data links an editable install would give."""
    where = Path(tempfile.mkdtemp(prefix="yield-before-")) / "checkout"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(where), rev], check=True)
    for name in ("prompts", "evaluators", "problems"):
        link = where / "evolve" / name
        if not link.exists():
            link.symlink_to(Path("..") / name)
    return where


# ---- the report ------------------------------------------------------------------------------------


def report(results: list[Yield]) -> str:
    lines = [
        "| tool | problem | iterations | evaluated child | scored child | calls | calls per iteration | wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        per = r.calls / r.iterations if r.iterations else 0.0
        lines.append(
            f"| {r.tool} | {r.problem} | {r.iterations} | {r.children} ({r.share:.0%}) | {r.scored} | "
            f"{r.calls} | {per:.2f} | {r.wall:.0f} s{'' if r.rc == 0 else f' (exit {r.rc})'} |"
        )
    for r in results:
        lines.append(f"\n{r.tool}, {r.problem}:")
        if r.forms:
            lines.append("  answer forms: " + ", ".join(f"{k} {v}" for k, v in r.forms.items()))
        for reason, count in r.reasons.items():
            lines.append(f"  {count} x {reason}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--iterations", type=int, default=24)
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated, from problems/")
    parser.add_argument("--before", metavar="REV", help="also run an older commit (a temporary git worktree)")
    parser.add_argument("--openevolve", action="store_true", help="also run OpenEvolve 0.4.1 side by side")
    parser.add_argument("--openevolve-cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--api-base", help="a model server already running (default: start tests/local_model.py's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--keep", action="store_true", help="keep each run's folder")
    args = parser.parse_args(argv)
    unknown = [p for p in args.problems.split(",") if not (ROOT / "problems" / p / "problem.toml").exists()]
    if unknown:
        parser.error(f"--problems: no problems/{unknown[0]}/problem.toml")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    server = None if args.api_base else local_model.serve()
    upstream = args.api_base or server.api_base  # type: ignore[union-attr]
    model = f"openai/{local_model.MODEL_ALIAS}"
    before = older_checkout(args.before) if args.before else None
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    results: list[Yield] = []
    try:
        with ModelServer(relay_script(upstream)) as relay:
            for problem in args.problems.split(","):
                runs = [(ROOT, f"evolve {head.stdout.strip()}")]
                if before is not None:
                    runs.append((before, f"evolve {args.before}"))
                for checkout, tool in runs:
                    check_package_data(checkout)
                    print(f"{tool} on {problem}, {args.iterations} iterations ...", flush=True)
                    results.append(run_evolve(checkout, tool, problem, args, relay, model))
                if args.openevolve:
                    print(f"OpenEvolve on {problem}, {args.iterations} iterations ...", flush=True)
                    results.append(run_openevolve(problem, args, relay))
    finally:
        if server is not None:
            server.stop()
        if before is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
            shutil.rmtree(before.parent, ignore_errors=True)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
