"""Search quality: does the adaptive search beat simpler strategies on the same problem and budget?

A matrix of runs, each arm with several seeds, every run through `evolve run`'s own engine (Ray,
the process sandbox, litellm's real HTTP path):

    evolve          the default search (bandits, novelty rejection, crossover, repair, resets)
    no-novelty      evolve with [novelty] enabled = false
    no-bandit       evolve with [bandit] enabled = false (the static weights)
    no-crossover    evolve with [mutation] crossover = 0
    best-of-n       N independent children of the initial program, same model and prompts
    random          the offline mutator (random perturbations), no model

and one table: the best training score and its held-out score (mean over the seeds, with each
seed's figure), the model calls, the cost, the evaluations, and the evaluations novelty rejection
saved (near-duplicate children never evaluated).

With a real model this is the experiment a user runs before trusting the search:

    python bench/search_quality.py problems/circle_packing -m openai/gpt-4o-mini --calls 100 --seeds 3

`--quick` runs it offline, as a smoke test: the minimal template problem (curve fitting, with a
held-out set), a loopback server whose "model" perturbs one number of the current program at a
time (a sampling model: its choice drawn from the prompt and the call's number), 16 calls and 2
seeds per arm.

Usage: python bench/search_quality.py PROBLEM -m MODEL [--api-base URL] [--calls N | --max-cost USD]
       [--seeds 3] [--arms evolve,best-of-n,...] [--write bench/RESULTS.md] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from sqlalchemy import func, select  # noqa: E402

from evolve.edit.blocks import BlockError, block_bodies  # noqa: E402
from evolve.engine.options import RunOptions  # noqa: E402
from evolve.engine.run import evolve_run, start_ray  # noqa: E402
from evolve.kinds import CallOutcome, ProgramStatus  # noqa: E402
from evolve.mutate.llm import ModelSpec  # noqa: E402
from evolve.problem import Problem, load_problem  # noqa: E402
from evolve.store import LLMCall, Program, open_engine, session_factory  # noqa: E402

HEADING = "## Search quality"
ARMS = ("evolve", "no-novelty", "no-bandit", "no-crossover", "best-of-n", "random")


@dataclass(frozen=True)
class Outcome:
    arm: str
    seed: int
    best: float | None
    heldout: float | None
    calls: int  # model calls (re-asks and judge calls included)
    cost: float
    evaluations: int
    near_duplicates: int  # children rejected as near-duplicates: evaluations saved
    seconds: float


def variant(problem: Problem, arm: str) -> tuple[Problem, str]:
    """The problem as the arm sees it, and the run's strategy."""
    c = problem.config
    update = {
        "no-novelty": {"novelty": c.novelty.model_copy(update={"enabled": False})},
        "no-bandit": {"bandit": c.bandit.model_copy(update={"enabled": False})},
        "no-crossover": {"mutation": c.mutation.model_copy(update={"crossover": 0.0})},
    }.get(arm, {})
    strategy = arm if arm in ("best-of-n", "random") else "evolve"
    return replace(problem, config=c.model_copy(update=update)), strategy


def measure(result, arm: str, seed: int, seconds: float) -> Outcome:
    engine = open_engine(result.db_url, create=False)
    with session_factory(engine)() as s:
        calls = s.scalar(select(func.count()).select_from(LLMCall).where(LLMCall.model != "offline")) or 0
        near = (
            s.scalar(select(func.count()).select_from(LLMCall).where(LLMCall.outcome == CallOutcome.NEAR_DUPLICATE))
            or 0
        )
        evaluated = s.scalar(
            select(func.count())
            .select_from(Program)
            .where(Program.iteration > 0, Program.status.in_((ProgramStatus.OK, ProgramStatus.FAILED)))
        )
    engine.dispose()
    best = result.best
    return Outcome(
        arm,
        seed,
        best.score if best else None,
        best.heldout_score if best else None,
        int(calls),
        result.progress.cost,
        int(evaluated or 0),
        int(near),
        seconds,
    )


def run_matrix(problem: Problem, arms, seeds: int, calls: int, max_cost: float | None, models, workdir: Path):
    outcomes = []
    for seed in range(seeds):
        for arm in arms:  # the arms alternate, so a change in the machine's load spreads over all
            arm_problem, strategy = variant(problem, arm)
            options = RunOptions(
                iterations=calls if max_cost is None else 1_000_000,
                max_cost=max_cost,
                seed=seed,
                models=models,
                strategy=strategy,
                sandbox="process",
                llm_concurrency=4,
            )
            started = time.monotonic()
            result = evolve_run(arm_problem, options, runs_root=workdir, run_name=f"{arm}-s{seed}")
            outcome = measure(result, arm, seed, time.monotonic() - started)
            print(
                f"{arm:>13} seed {seed}: best {outcome.best}, held-out {outcome.heldout}, "
                f"{outcome.calls} calls, ${outcome.cost:.4f}, {outcome.evaluations} evaluations, "
                f"{outcome.near_duplicates} near-duplicates, {outcome.seconds:.0f} s",
                flush=True,
            )
            outcomes.append(outcome)
    return outcomes


def _mean(values) -> str:
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return "–"
    text = f"{statistics.mean(known):.4f}"
    return text + (f" ± {statistics.stdev(known):.4f}" if len(known) > 1 else "")


def table(outcomes: list[Outcome], arms) -> str:
    lines = [
        "| arm | best training score | held-out score of the best | per seed (training) | model calls | cost | "
        "evaluations | saved by novelty rejection |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for arm in arms:
        rows = [o for o in outcomes if o.arm == arm]
        if not rows:
            continue
        per_seed = ", ".join(f"{o.best:.4f}" if o.best is not None else "–" for o in rows)
        lines.append(
            f"| {arm} | {_mean([o.best for o in rows])} | {_mean([o.heldout for o in rows])} | {per_seed} | "
            f"{sum(o.calls for o in rows) / len(rows):.1f} | ${sum(o.cost for o in rows) / len(rows):.4f} | "
            f"{sum(o.evaluations for o in rows) / len(rows):.1f} | {sum(o.near_duplicates for o in rows) / len(rows):.1f} |"
        )
    return "\n".join(lines)


# ---- --quick: a loopback "model" that hill-climbs on numbers ---------------------------------

_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+|\d+)(?![\w.])")


def perturbing_script(request: dict, index: int):
    """Perturb one number inside the current program's blocks, the choice and the step drawn from
    the prompt and the call's number: a model that samples (the same prompt twice gets two answers)."""
    from model_server import Reply, current_program, is_insight

    if is_insight(request):
        return Reply("Findings: the polynomial degree matters most.\nRecommendations: try other degrees.")
    code = current_program(request)
    try:
        body = "".join(block_bodies(code))
    except BlockError:
        body = ""
    lines = [
        line
        for line in body.splitlines()
        if _NUMBER.search(line) and not line.strip().startswith(("#", '"')) and code.count(line) == 1
    ]
    if not lines:
        return Reply("I have no idea.")
    text = "\n".join(m["content"] for m in request["messages"])
    rng = random.Random(int(hashlib.sha256(f"{index}:{text}".encode()).hexdigest()[:12], 16))
    line = rng.choice(lines)
    matches = list(_NUMBER.finditer(line))
    m = rng.choice(matches)
    value = m.group(1)
    if "." in value:
        new = f"{float(value) * math.exp(rng.gauss(0, 0.7)):.4g}"
    else:
        new = str(max(0, int(value) + rng.choice((-1, 1, 2))))
    edited = line[: m.start()] + new + line[m.end() :]
    return Reply(f"Try {new}.\n<<<<<<< SEARCH\n{line}\n=======\n{edited}\n>>>>>>> REPLACE\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("problem", nargs="?", help="a problem folder")
    parser.add_argument("-m", "--model", action="append", default=[], help="litellm model name (repeatable)")
    parser.add_argument("--api-base", help="OpenAI-compatible server for the models")
    parser.add_argument("--calls", type=int, default=50, help="iterations per run (the budget in calls)")
    parser.add_argument("--max-cost", type=float, help="the budget in USD per run instead of --calls")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--write", type=Path, help="append (or replace) the section in this Markdown file")
    parser.add_argument("--keep", type=Path, help="keep the runs' folders here (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="offline: minimal template, loopback model")
    args = parser.parse_args()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown} (choose from {', '.join(ARMS)})")

    start_ray(None)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="search-quality-"))
    if args.quick:
        from evolve.resources import templates_dir

        from model_server import ModelServer

        problem = load_problem(templates_dir() / "minimal")
        calls, seeds = (args.calls if args.calls != 50 else 16), (args.seeds if args.seeds != 3 else 2)
        with ModelServer(perturbing_script) as server:
            model = ModelSpec("openai/loopback", api_base=server.url, price_in=1.0, price_out=2.0)
            outcomes = run_matrix(problem, arms, seeds, calls, args.max_cost, (model,), workdir)
        what = (
            f"the minimal template problem (curve fitting, held-out set), a loopback model that perturbs one number "
            f"of the current program per call, {calls} iterations and {seeds} seeds per arm"
        )
        command = "python bench/search_quality.py --quick" + (f" --write {args.write}" if args.write else "")
    else:
        if not args.problem or not args.model:
            parser.error("give a problem folder and -m MODEL (or --quick)")
        problem = load_problem(args.problem)
        models = tuple(ModelSpec(m, api_base=args.api_base) for m in args.model)
        calls, seeds = args.calls, args.seeds
        outcomes = run_matrix(problem, arms, seeds, calls, args.max_cost, models, workdir)
        budget = f"${args.max_cost:g} per run" if args.max_cost is not None else f"{calls} iterations per run"
        what = f"{problem.name}, models {', '.join(args.model)}, {budget}, {seeds} seeds per arm"
        command = "python " + " ".join(["bench/search_quality.py", *sys.argv[1:]])
    report = (
        f"{HEADING}\n\n"
        f"Each arm of the search on the same problem and budget ({what}); process sandbox, 4 model calls at a "
        f"time. Machine: {platform.machine()} / Python {platform.python_version()} / {os.cpu_count()} CPUs.\n\n"
        f"Command: `{command}`\n\n{table(outcomes, arms)}\n"
    )
    print("\n" + report)
    if args.write:
        write_section(args.write, report)


def write_section(path: Path, report: str) -> None:
    """Replace this benchmark's section of the file, or append it."""
    text = path.read_text() if path.exists() else ""
    if HEADING in text:
        start = text.index(HEADING)
        nxt = text.find("\n## ", start + len(HEADING))
        text = text[:start] + report + (text[nxt:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + report
    path.write_text(text)


if __name__ == "__main__":
    main()
