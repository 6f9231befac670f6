"""Write a realistic run database: N candidates over islands, with lineage, diffs, failures, model
calls (prompts, answers, tokens, cost), evaluations and events. Seeded: the same arguments write
the same rows. The rows go through the store's own `RunWriter`, as the engine's do.

    python bench/make_big_run.py                      # runs/big-run/evolve.db, 10,000 candidates
    python bench/make_big_run.py -n 200 --out /tmp/r  # a small one

`SyntheticRun` is importable (tests use it to write a run while commands read it):

    run = SyntheticRun(engine, name="live", seed=1)
    run.start()
    run.add(batch=1)        # one candidate per call, committed
    run.finish()
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE.parent, HERE):  # evolve itself; synthetic_candidates.py beside this file
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from sqlalchemy.engine import Engine  # noqa: E402
from synthetic_candidates import FAILURES, FEATURES, IDEAS, INITIAL, MODELS, PROMPT, REJECTS, bin_of, mutate, pick  # noqa: E402

from evolve.engine.options import RunOptions  # noqa: E402
from evolve.kinds import (  # noqa: E402
    CallOutcome,
    Mutation,
    StopKind,
)
from evolve.mutate.llm import ModelSpec  # noqa: E402
from evolve.sandbox.base import EvalOutcome  # noqa: E402
from evolve.stop_reason import StopReason  # noqa: E402
from evolve.store import CallRow, RunConfig, RunWriter, open_engine, sqlite_url  # noqa: E402
from evolve.store.events import MigrationPayload, NewBestPayload  # noqa: E402
from evolve.usage import CallUsage  # noqa: E402


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


Parent = tuple[float, int, str, int]  # (score, program id, code, generation)


class SyntheticRun:
    """Proposes and evaluates synthetic candidates and writes them through the store's RunWriter,
    candidate by candidate, the way the engine does."""

    def __init__(
        self,
        engine: Engine,
        name: str = "big-run",
        seed: int = 0,
        islands: int = 4,
        target: int | None = None,
        start: datetime | None = None,
    ):
        self.engine, self.name, self.rng, self.islands = engine, name, random.Random(seed), islands
        self.seed, self.target = seed, target
        self.clock = start or datetime(2026, 1, 5, 9, 0, 0)  # synthetic time: realistic durations, same rows
        self.writer: RunWriter | None = None
        self.iteration = 0
        self.archive: dict[int, list[Parent]] = {i: [] for i in range(islands)}
        self.best: tuple[float, int] | None = None

    def _now(self) -> datetime:
        return self.clock

    def _tick(self, seconds: float) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def _store(self) -> RunWriter:
        assert self.writer is not None, "start() first"
        return self.writer

    def start(self) -> int:
        models = tuple(ModelSpec(m, weight=w) for m, w, *_ in MODELS)
        config = RunConfig(
            problem={
                "name": "circle_packing",
                "description": "Pack 26 circles.",
                "program": "initial_program.py",
                "language": "python",
                "evaluation": {"timeout": 60, "cpus": 1, "memory_mb": 1024},
                "population": {"islands": self.islands, "features": FEATURES, "migration_interval": 20},
                "models": [{"name": m.name, "weight": m.weight} for m in models],
            },
            options=RunOptions(
                iterations=self.target, seed=self.seed, sandbox="process", llm_concurrency=8, eval_workers=4
            ),
            models=models,
        )
        self.writer = RunWriter.start_run(
            self.engine,
            name=self.name,
            problem="circle_packing",
            problem_path="problems/circle_packing",
            config=config,
            seed=self.seed,
            sandbox="process",
            mutator="llm: " + ", ".join(m for m, *_ in MODELS),
            iterations_target=self.target,
            initial_code=INITIAL,
            initial_hash=_hash(INITIAL),
            clock=self._now,
        )
        initial = self.writer.initial_id
        assert initial is not None
        with self.writer.transaction():
            self._evaluate(initial, INITIAL, 1.52)
        for island in range(self.islands):
            self.archive[island].append((1.52, initial, INITIAL, 0))
        return self.writer.run_id

    def _evaluate(self, pid: int, code: str, score: float | None, failure: tuple | None = None) -> None:
        """The evaluation of program `pid`: a score, or `failure` (kind, detail, weight)."""
        rng, writer = self.rng, self._store()
        min_radius = rng.uniform(0.0, 0.09)
        duration = rng.uniform(0.5, 20.0)
        if failure is not None:
            kind, detail, _ = failure
            writer.record_evaluation(
                pid,
                EvalOutcome.failure(
                    kind,
                    detail,
                    feedback=f"The evaluation failed: {kind}: {detail}",
                    duration=duration,
                    sandbox="process",
                    logs=f"Traceback (most recent call last):\n  ...\n{kind}: {detail}\n",
                ),
            )
            return
        assert score is not None
        metrics = {
            "score": score,
            "sum_radii": score,
            "min_radius": min_radius,
            "code_length": float(len(code)),
            "valid": 1.0,
        }
        feedback = (
            f"Sum of radii {score:.4f} (best known 2.635). Smallest circle r={min_radius:.4f}; "
            f"{rng.randint(0, 6)} circles touch a wall."
        )
        writer.record_evaluation(
            pid,
            EvalOutcome(ok=True, score=score, metrics=metrics, feedback=feedback, duration=duration, sandbox="process"),
            cell=(bin_of(len(code), FEATURES[0]), bin_of(min_radius, FEATURES[1])),
        )
        if self.best is None or score > self.best[0]:
            self.best = (score, pid)
            writer.add_event(NewBestPayload(pid, score), f"new best {score:.4f} by program {pid}")
            writer.set_best(pid, score)

    def _child(self, code: str, parent: Parent, island: int, mutation: Mutation, call_id: int | None) -> int:
        rng = self.rng
        self._tick(rng.uniform(0.5, 4.0))
        diff = "".join(
            difflib.unified_diff(
                parent[2].splitlines(keepends=True),
                code.splitlines(keepends=True),
                fromfile=f"program {parent[1]}",
                tofile="child",
            )
        )
        inspirations = [p[1] for p in rng.sample(self.archive[island], min(2, len(self.archive[island])))]
        return self._store().add_child(
            code=code,
            code_hash=_hash(code),
            parent_id=parent[1],
            inspiration_ids=inspirations,
            island=island,
            generation=parent[3] + 1,
            iteration=self.iteration,
            mutation=mutation,
            diff=diff,
            llm_call_id=call_id,
            propose_seconds=rng.uniform(2, 30) if call_id else None,
        )

    def _parent(self, island: int) -> Parent:
        pool = sorted(self.archive[island], reverse=True)[:20]
        return pool[min(len(pool) - 1, int(self.rng.expovariate(0.4)))]

    def add(self, batch: int = 1) -> None:
        """Propose and evaluate `batch` more candidates, then commit them together."""
        with self._store().transaction():
            for _ in range(batch):
                self._add_one()

    def _add_one(self) -> None:
        rng, writer = self.rng, self._store()
        self.iteration += 1
        island = self.iteration % self.islands
        parent = self._parent(island)
        model, _, price_in, price_out = pick(rng, MODELS, lambda m: m[1])
        full = rng.random() < 0.25
        mutation = Mutation.FULL if full else Mutation.DIFF
        code = mutate(rng, parent[2], full)
        while code == parent[2]:  # the engine rejects no-op edits before they become programs
            code = mutate(rng, parent[2], full)
        prompt = PROMPT.format(
            score=parent[0],
            island=island,
            generation=parent[3],
            code=parent[2],
            feedback=f"Sum of radii {parent[0]:.4f}.",
            inspirations="\n".join(rng.sample(IDEAS, 2)),
        )
        answer: str | None = (
            f"{rng.choice(IDEAS)}.\n\n<<<<<<< SEARCH\n{parent[2].splitlines()[8]}\n=======\n"
            f"{code.splitlines()[8]}\n>>>>>>> REPLACE\n"
        )
        ptok, ctok = len(prompt) // 4, len(answer or "") // 4 + rng.randint(50, 400)
        roll = rng.random()
        outcome, reason, error = CallOutcome.CHILD, None, None
        if roll < 0.03:
            outcome, answer, ctok = CallOutcome.ERROR, None, 0
            error = rng.choice(["litellm.RateLimitError: 429 Too Many Requests", "timeout: no answer after 120 s"])
        elif roll < 0.13:
            outcome, reason = rng.choice(REJECTS)
        self._tick(rng.uniform(0.1, 1.0))
        usage = CallUsage(ptok, ctok, ptok * price_in + ctok * price_out, rng.uniform(2, 40), 1 if error is None else 3)
        call_id = writer.add_call(
            CallRow(
                iteration=self.iteration,
                island=island,
                parent_id=parent[1],
                model=model,
                mutation=mutation,
                prompt=prompt,
                answer=answer,
                usage=usage,
                error=error,
                outcome=outcome,
                reject_reason=reason,
            )
        )
        if outcome != CallOutcome.CHILD:
            return
        pid = self._child(code, parent, island, mutation, call_id)
        if rng.random() < 0.2:
            self._evaluate(pid, code, None, pick(rng, FAILURES, lambda f: f[2]))
            return
        # scores creep towards 2.635 with diminishing steps; most edits are a little worse
        gap = 2.64 - parent[0]
        score = parent[0] + gap * (rng.gauss(-0.03, 0.03) + (0.05 if rng.random() < 0.08 else 0.0))
        score = round(max(0.5, score), 6)
        self._evaluate(pid, code, score)
        self.archive[island].append((score, pid, code, parent[3] + 1))
        if self.iteration % 20 == 0 and self.islands > 1:  # migration: an island's best moves on
            src = max(self.archive[island])
            dst = (island + 1) % self.islands
            self.archive[dst].append(src)
            writer.add_event(
                MigrationPayload(((island, dst, src[1]),)), f"program {src[1]} migrated from island {island} to {dst}"
            )

    def add_pending(self) -> int:
        """A candidate being evaluated right now (status pending), as a live run shows."""
        self.iteration += 1
        island = self.iteration % self.islands
        parent = self._parent(island)
        code = mutate(self.rng, parent[2], False)
        while code == parent[2]:
            code = mutate(self.rng, parent[2], False)
        with self._store().transaction():
            return self._child(code, parent, island, Mutation.DIFF, None)

    def finish(self) -> None:
        """Score the top programs on held-out inputs and close the run."""
        writer = self._store()
        top = sorted((p[0], -p[1]) for ps in self.archive.values() for p in ps)[::-1]
        chosen = [-p for _, p in top[:5]] + ([self.best[1]] if self.best else [])
        scores = {p[1]: p[0] for ps in self.archive.values() for p in ps}
        with writer.transaction():
            for pid in dict.fromkeys(chosen):  # once each, in order
                h = round(scores[pid] - abs(self.rng.gauss(0.01, 0.01)), 6)
                writer.record_heldout(pid, EvalOutcome(ok=True, score=h, duration=5.0, sandbox="process"))
            self._tick(31)
            writer.finish(StopReason(StopKind.COMPLETED, "iterations reached"))
        writer.close()


def make_run(
    out: Path, n: int = 10_000, seed: int = 0, name: str | None = None, islands: int = 4, batch: int = 500
) -> Path:
    """Write runs/<name>/evolve.db with n candidates (model calls), closed like a finished run."""
    out.mkdir(parents=True, exist_ok=True)
    db_file = out / "evolve.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    engine = open_engine(sqlite_url(out), create=True)
    run = SyntheticRun(engine, name=name or out.name, seed=seed, islands=islands, target=n)
    run.start()
    while run.iteration < n:
        run.add(min(batch, n - run.iteration))
    run.finish()
    engine.dispose()
    return db_file


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10_000, help="candidates (model calls), default 10,000")
    ap.add_argument("--out", type=Path, default=Path("runs/big-run"), help="the run folder to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--islands", type=int, default=4)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    db = make_run(args.out, args.n, args.seed, islands=args.islands)
    print(f"wrote {db} ({args.n} candidates, {db.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
