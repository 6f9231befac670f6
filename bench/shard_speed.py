"""The sharded population's speed (figures go to bench/RESULTS.md, "Sharded population").

Candidates per second through the population alone: the offline mutator (called in this process,
as the driver's mutator threads will), no evaluation (the null sandbox's outcome, made here), the
busy problem's 83-byte program, 8 islands.

A. Direct: one `PopulationActor`'s methods called without Ray (the ceiling of one shard), batch
   sizes 1 and 32, and the time per candidate early (300-1,300 in the store) and late (the last
   1,000 of `--long` candidates): flat or not.
B. Ray: 1, 2, 4, 8 shard actors behind `ShardedPopulation`, batch 1 and 32, a batch per shard in
   flight at once. Ray starts with 10 custom resources `node_0..node_9` (a simulated 10-node
   cluster on this machine; shard k is pinned to node_{k % 10}); the shards ask for no CPU.

Both on SQLite (WAL) and on PostgreSQL (a server this script starts, when one is installed).

Usage: python bench/shard_speed.py [--quick] [--long N]
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(HERE)]

from evolve.engine.population_actor import PopulationActor  # noqa: E402
from evolve.engine.sharded_population import ShardedPopulation  # noqa: E402
from evolve.mutate.prompt import ProblemView  # noqa: E402
from evolve.mutate.propose import MutatorSettings, propose  # noqa: E402
from evolve.population.shard_spec import ShardSpec  # noqa: E402
from evolve.problem import Problem, load_problem  # noqa: E402
from evolve.sandbox.base import EvalOutcome  # noqa: E402
from evolve.store import RunConfig  # noqa: E402

NODES = 10


def problem_with(shards: int) -> Problem:
    p = load_problem(HERE / "problems" / "busy")
    pop = p.config.population.model_copy(update={"islands": 8, "shards": shards, "migration_interval": 50})
    return replace(p, config=p.config.model_copy(update={"population": pop}))


def outcome(code: str) -> EvalOutcome:
    """bench/null_sandbox.py's outcome: a score from a hash of the code, no evaluation."""
    score = int.from_bytes(hashlib.sha256(code.encode()).digest()[:4], "big") / 2**32
    return EvalOutcome(ok=True, score=score, metrics={"score": score}, sandbox="null")


# ---- A. one shard, no Ray ----------------------------------------------------------------


def direct(url: str, total: int, batch: int) -> list[float]:
    """Stamps (monotonic seconds) after each candidate, `batch` candidates per call."""
    problem = problem_with(1)
    settings = MutatorSettings(problem=ProblemView(problem.name, "", problem.language))
    db = PopulationActor(url, f"direct-{batch}-{total}", problem, RunConfig(), 0, "null", "offline", None, False)
    start = db.start()
    assert start.initial_ticket is not None
    db.submit_result(start.initial_ticket, outcome(start.initial_ticket.code))
    stamps: list[float] = []
    iteration = db.next_iteration
    while len(stamps) < total:
        tasks = db.next_tasks(list(range(iteration, iteration + batch)))
        iteration += batch
        admissions = db.submit_proposals([(propose(t, settings), None) for t in tasks])
        tickets = [a.ticket for a in admissions if a.ticket is not None]
        db.submit_results([(t, outcome(t.code)) for t in tickets])
        now = time.monotonic()
        stamps += [now] * batch
    db.close()
    return stamps[:total]


def per_candidate_ms(stamps: list[float], lo: int, hi: int) -> float:
    return 1000 * (stamps[hi - 1] - stamps[lo - 1]) / (hi - lo)


# ---- B. shards as Ray actors ---------------------------------------------------------------


def through_ray(ray, url: str, shards: int, batch: int, total: int) -> float:
    problem = problem_with(shards)
    settings = MutatorSettings(problem=ProblemView(problem.name, "", problem.language))
    name = f"ray-{shards}-{batch}"

    def make(spec: ShardSpec):
        actor = ray.remote(PopulationActor).options(
            num_cpus=0, max_concurrency=1, resources={f"node_{spec.index % NODES}": 0.001}
        )
        return actor.remote(url, name, problem, RunConfig(), 0, "null", "offline", None, False, spec)

    pop = ShardedPopulation.open(problem.config.population, make)
    info = pop.start_info
    assert info.initial_ticket is not None
    ref = pop.submit_result(info.initial_ticket, outcome(info.initial_ticket.code))
    pop.progress(ref, ray.get(ref))
    done, results = 0, []
    started = time.monotonic()
    while done < total:
        # A batch for every shard at once: shards work in parallel while this process proposes.
        tasks = [t for ref in pop.next_tasks(batch * shards) for t in ray.get(ref)]
        refs = pop.submit_proposals([(propose(t, settings), None) for t in tasks])
        tickets = []
        for ref in refs:
            admissions = ray.get(ref)
            pop.progress(ref, admissions[-1].progress)
            tickets += [a.ticket for a in admissions if a.ticket is not None]
        for ref in results:  # the last round's results, read after this round's were sent
            pop.progress(ref, ray.get(ref))
        results = pop.submit_results([(t, outcome(t.code)) for t in tickets])
        done += len(tasks)
    for ref in results:
        pop.progress(ref, ray.get(ref))
    elapsed = time.monotonic() - started
    assert pop.merged.completed == done, (pop.merged.completed, done)
    pop.close()
    for s in pop.shards:
        ray.kill(s)
    return done / elapsed


# ---- the stores ------------------------------------------------------------------------------


def stores(tmp: Path):
    yield "SQLite", lambda tag: f"sqlite:///{tmp / f'{tag}.db'}"
    pg = postgres(tmp)
    if pg is not None:
        with pg as url:
            yield "PostgreSQL", lambda tag: url


def postgres(tmp: Path):
    import contextlib

    import test_postgres

    if test_postgres._pg_bin() is None:
        return None
    fixture = test_postgres.postgres_url.__wrapped__  # the pytest fixture's generator function

    @contextlib.contextmanager
    def server():
        gen = fixture(None)
        try:
            yield next(gen)
        finally:
            gen.close()

    return server()


def main() -> None:
    quick = "--quick" in sys.argv
    long_n = int(sys.argv[sys.argv.index("--long") + 1]) if "--long" in sys.argv else (5_000 if quick else 20_000)
    ray_total = 1_000 if quick else 3_000
    import ray

    ray.init(
        address="local",
        num_cpus=os.cpu_count(),
        resources={f"node_{k}": 1 for k in range(NODES)},
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": f"{HERE}:{ROOT}"}},
    )
    rows_a, rows_b = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for store, url_for in stores(Path(tmp)):
            for batch in (1, 32):
                stamps = direct(url_for(f"direct-{batch}"), long_n, batch)
                rate = (len(stamps) - 300) / (stamps[-1] - stamps[299])
                early = per_candidate_ms(stamps, 300, 1_300)
                late = per_candidate_ms(stamps, long_n - 1_000, long_n)
                rows_a.append((store, batch, rate, early, late))
                print(rows_a[-1], flush=True)
            for shards in (1, 2, 4, 8):
                for batch in (1, 32):
                    rate = through_ray(ray, url_for(f"ray-{shards}-{batch}"), shards, batch, ray_total)
                    rows_b.append((store, shards, batch, rate))
                    print(rows_b[-1], flush=True)
    ray.shutdown()
    print("\n## Sharded population\n")
    args = " ".join(sys.argv[1:])
    print(
        f"Command: `python bench/shard_speed.py{' ' + args if args else ''}`; {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}.\n"
    )
    print(f"A. One shard's methods called directly (no Ray), {long_n} candidates:\n")
    print(
        "| store | batch | candidates / s | ms per candidate at 300-1,300 | "
        f"ms per candidate at {long_n - 1000}-{long_n} | late / early |"
    )
    print("|---|---|---|---|---|---|")
    for store, batch, rate, early, late in rows_a:
        print(f"| {store} | {batch} | {rate:.0f} | {early:.3f} | {late:.3f} | {late / early:.2f} |")
    print(
        f"\nB. Shards as Ray actors (10 simulated nodes), {ray_total} candidates each, "
        "the offline mutator in the driver process:\n"
    )
    print("| store | shards | batch per shard | candidates / s |")
    print("|---|---|---|---|")
    for store, shards, batch, rate in rows_b:
        print(f"| {store} | {shards} | {batch} | {rate:.0f} |")


if __name__ == "__main__":
    main()
