"""Every insert and update of a run: `RunWriter`, bound to one engine and one run.

The engine's population actor, the tests and the benchmark generators all write through it, so a
run's rows mean the same whoever wrote them. Each method commits on its own; `transaction()`
groups several into one commit (a proposal and its child, an evaluation and the new best it
makes, a benchmark's batch). It writes with SQLAlchemy Core on one connection it keeps: this is
the hot path, and the ORM's unit of work would cost more than the inserts themselves. The hot
path's statements are built once against the tables and take their values as parameters: a
statement with `.values(...)` of literals is rebuilt, coerced and cache-keyed on every call, which
cost more than the SQL itself (bench/shard_speed.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, CursorResult, Engine

from evolve.clip import clip
from evolve.kinds import EvaluationKind, FailureKind, Mutation, ProgramStatus, RunStatus
from evolve.sandbox.base import EvalOutcome
from evolve.stop_reason import StopReason
from evolve.store.events import EventPayload, ResumePayload, StartPayload, StopPayload, event_values
from evolve.store.llm_call import CallRow
from evolve.store.models import Base, Evaluation, Insight, Program, Run, utcnow
from evolve.store.run_config import RunConfig
from evolve.usage import CallUsage

INTERRUPTED_ERROR = f"{FailureKind.INTERRUPTED}: the run stopped during its evaluation"

Clock = Callable[[], datetime]

# Built once: the parameters carry the values (see the module's docstring).
_tables = Base.metadata.tables
_INSERT_CALL = insert(_tables["llm_calls"])
_INSERT_PROGRAM = insert(_tables["programs"])
_INSERT_EVALUATION = insert(_tables["evaluations"])
_INSERT_EVENT = insert(_tables["events"])
_programs = _tables["programs"].c
_runs = _tables["runs"].c
_EVALUATED = update(_tables["programs"]).where(_programs.id == bindparam("program_id_"))
# The run's best only ever rises: population shards each offer theirs (evolve/engine/sharded_population.py).
_BETTER_BEST = (
    update(_tables["runs"])
    .where(_runs.id == bindparam("run_id_"))
    .where((_runs.best_score.is_(None)) | (_runs.best_score < bindparam("score_")))
    .values(best_program_id=bindparam("program_id_"), best_score=bindparam("score_"), updated_at=bindparam("now_"))
)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "an INSERT returns its new row's key"
    return int(key[0])


def find_run(engine: Engine, name: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(select(Run.id).where(Run.name == name)).scalar_one_or_none()


def evaluation_values(run_id: int, program_id: int, kind: EvaluationKind, outcome: EvalOutcome, now: datetime) -> dict:
    """An evaluation row's columns from the sandbox's outcome (train, held-out and rescore rows alike)."""
    return dict(
        run_id=run_id,
        program_id=program_id,
        kind=kind,
        sandbox=outcome.sandbox,
        ok=outcome.ok,
        score=outcome.score,
        exit_reason=outcome.reason,
        failure_kind=None if outcome.ok else outcome.kind,  # None from a sandbox that sets no kind yet
        duration=outcome.duration,
        logs=outcome.logs,
        node=outcome.node,
        created_at=now,
    )


class RunWriter:
    def __init__(self, engine: Engine, run_id: int, clock: Clock = utcnow):
        self.engine, self.run_id, self.clock = engine, run_id, clock
        self.initial_id: int | None = None  # the initial program's id, when this writer started the run
        self._conn: Connection | None = None

    # ---- opening and closing ----------------------------------------------------------

    @classmethod
    def start_run(
        cls,
        engine: Engine,
        *,
        name: str,
        problem: str,
        problem_path: str,
        config: RunConfig,
        seed: int,
        sandbox: str,
        mutator: str,
        iterations_target: int | None,
        initial_code: str,
        initial_hash: str,
        clock: Clock = utcnow,
    ) -> RunWriter:
        """A new run with its initial program (pending) and its start event, in one commit."""
        now = clock()
        with engine.begin() as conn:
            run_id = _new_id(
                conn.execute(
                    insert(Run).values(
                        name=name,
                        problem=problem,
                        problem_path=problem_path,
                        config=config.to_json(),
                        seed=seed,
                        sandbox=sandbox,
                        mutator=mutator,
                        iterations_target=iterations_target,
                        status=RunStatus.RUNNING,
                        created_at=now,
                        updated_at=now,
                        heartbeat_at=now,
                    )
                )
            )
            initial_id = _new_id(
                conn.execute(
                    insert(Program).values(
                        run_id=run_id,
                        code=initial_code,
                        code_hash=initial_hash,
                        inspiration_ids=[],
                        island=0,
                        generation=0,
                        iteration=0,
                        mutation=Mutation.INITIAL,
                        status=ProgramStatus.PENDING,
                        metrics={},
                        feedback="",
                        created_at=now,
                    )
                )
            )
            start = StartPayload(mutator, sandbox)
            conn.execute(_INSERT_EVENT, event_values(run_id, start, f"run started ({mutator}, sandbox {sandbox})", now))
        writer = cls(engine, run_id, clock)
        writer.initial_id = initial_id
        return writer

    def resume(self, config: RunConfig, iterations_target: int | None) -> None:
        """The run goes on with `config` (kept for the next resume); what was in flight when it
        stopped is marked interrupted, and said so (the initial program is evaluated again)."""
        with self.transaction() as conn:
            values: dict[str, Any] = {
                "status": RunStatus.RUNNING,
                "config": config.to_json(),
                "updated_at": self.clock(),
                "heartbeat_at": self.clock(),
            }
            if iterations_target is not None:
                values["iterations_target"] = iterations_target
            conn.execute(update(Run).where(Run.id == self.run_id).values(**values))
            self._interrupt_pending(conn, children_only=True)
            self.add_event(ResumePayload(iterations_target), "run resumed")

    def finish(self, reason: StopReason) -> None:
        """The run ends with the status its stop's kind gives; runs.stop_reason keeps the words."""
        with self.transaction() as conn:
            self._interrupt_pending(conn, children_only=False)
            now = self.clock()
            conn.execute(
                update(Run)
                .where(Run.id == self.run_id)
                .values(status=reason.status, stop_reason=reason.text, finished_at=now, updated_at=now)
            )
            self.add_event(StopPayload(reason.kind), reason.text)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One commit for every write inside; nested, it joins the enclosing one."""
        if self._conn is None:
            self._conn = self.engine.connect()
        if self._conn.in_transaction():
            yield self._conn
            return
        with self._conn.begin():
            yield self._conn

    # ---- the rows of a candidate ------------------------------------------------------

    def add_call(self, row: CallRow) -> int:
        """A model call (or an offline proposal) and what it led to; returns its id. An iteration
        that re-asked the model has one row per answer (`CallRow.attempt`)."""
        with self.transaction() as conn:
            return _new_id(
                conn.execute(_INSERT_CALL, dict(run_id=self.run_id, **row.columns(), created_at=self.clock()))
            )

    def add_child(
        self,
        *,
        code: str,
        code_hash: str,
        parent_id: int,
        second_parent_id: int | None = None,
        inspiration_ids: Sequence[int],
        island: int,
        generation: int,
        iteration: int,
        mutation: str,
        diff: str | None,
        llm_call_id: int | None,
        propose_seconds: float | None,
        idea: str | None = None,
        hint_ids: Sequence[int] = (),
    ) -> int:
        """A new program, pending its evaluation; returns its id. `idea`: what the model said it
        would do (the prose before its edit); `hint_ids`: the hints its prompt showed."""
        with self.transaction() as conn:
            return _new_id(
                conn.execute(
                    _INSERT_PROGRAM,
                    dict(
                        run_id=self.run_id,
                        code=code,
                        code_hash=code_hash,
                        parent_id=parent_id,
                        second_parent_id=second_parent_id,
                        inspiration_ids=list(inspiration_ids),
                        island=island,
                        generation=generation,
                        iteration=iteration,
                        mutation=mutation,
                        diff=diff,
                        status=ProgramStatus.PENDING,
                        llm_call_id=llm_call_id,
                        propose_seconds=propose_seconds,
                        idea=idea,
                        hint_ids=list(hint_ids) or None,
                        metrics={},
                        feedback="",
                        created_at=self.clock(),
                    ),
                )
            )

    def record_evaluation(self, program_id: int, outcome: EvalOutcome, cell: Sequence[int] | None = None) -> int:
        """A program's (training) evaluation, and the program's status, score and cell from it;
        returns the evaluation's id."""
        kind = None if outcome.ok else outcome.kind  # None from a sandbox that sets no kind yet
        now = self.clock()
        with self.transaction() as conn:
            result = conn.execute(
                _INSERT_EVALUATION, evaluation_values(self.run_id, program_id, EvaluationKind.TRAIN, outcome, now)
            )
            conn.execute(
                _EVALUATED,
                dict(
                    program_id_=program_id,
                    status=ProgramStatus.OK if outcome.ok else ProgramStatus.FAILED,
                    score=outcome.score,
                    metrics=outcome.metrics,
                    feedback=outcome.feedback,
                    error=None if outcome.ok else outcome.reason,
                    failure_kind=kind,
                    cell=list(cell) if cell else None,
                    eval_seconds=outcome.duration,
                    evaluated_at=now,
                ),
            )
            return _new_id(result)

    def record_heldout(self, program_id: int, outcome: EvalOutcome) -> None:
        """A held-out evaluation; its score is the program's, and the run's when it is the best."""
        score = outcome.score if outcome.ok else None
        now = self.clock()
        with self.transaction() as conn:
            conn.execute(
                insert(Evaluation).values(
                    evaluation_values(self.run_id, program_id, EvaluationKind.HELDOUT, outcome, now)
                )
            )
            conn.execute(update(Program).where(Program.id == program_id).values(heldout_score=score))
            conn.execute(
                update(Run)
                .where(Run.id == self.run_id, Run.best_program_id == program_id)
                .values(heldout_score=score, updated_at=now)
            )

    def offer_best(self, program_id: int, score: float) -> bool:
        """The run's best becomes this program when it scores higher than the stored best (or none
        is stored); returns whether it did. One conditional UPDATE: shards writing their own bests
        concurrently leave the highest (PostgreSQL re-checks the condition on the locked row)."""
        with self.transaction() as conn:
            result = conn.execute(
                _BETTER_BEST, dict(run_id_=self.run_id, program_id_=program_id, score_=score, now_=self.clock())
            )
            return result.rowcount == 1

    def set_best(self, program_id: int, score: float) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(Run)
                .where(Run.id == self.run_id)
                .values(best_program_id=program_id, best_score=score, updated_at=self.clock())
            )

    def add_insight(
        self,
        *,
        iteration: int,
        text: str,
        program_ids: Sequence[int],
        model: str,
        prompt: str,
        usage: CallUsage,
        error: str | None,
    ) -> int:
        """The run's scratchpad as one model call wrote it after `iteration` evaluations (or the
        call's failure); returns its id. The insights table keeps no count of HTTP tries."""
        with self.transaction() as conn:
            return _new_id(
                conn.execute(
                    insert(Insight).values(
                        run_id=self.run_id,
                        iteration=iteration,
                        text=clip(text),
                        program_ids=list(program_ids),
                        model=model,
                        prompt=clip(prompt),
                        prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens,
                        cost=usage.cost,
                        latency=usage.latency,
                        error=error,
                        created_at=self.clock(),
                    )
                )
            )

    def add_embedding(self, program_id: int, model: str, vector: Sequence[float]) -> None:
        """A program's code embedding (novelty rejection), kept for a resumed run."""
        from evolve.store.models import Embedding  # a table only runs with an embedding model use

        with self.transaction() as conn:
            conn.execute(
                insert(Embedding).values(
                    run_id=self.run_id, program_id=program_id, model=model, vector=list(vector), created_at=self.clock()
                )
            )

    def heartbeat(self) -> None:
        """The driver is alive (see evolve.store.liveness)."""
        with self.transaction() as conn:
            conn.execute(update(Run).where(Run.id == self.run_id).values(heartbeat_at=self.clock()))

    def add_event(self, payload: EventPayload, message: str) -> None:
        """An event of the payload's kind; `message` is what a person reads."""
        with self.transaction() as conn:
            conn.execute(_INSERT_EVENT, event_values(self.run_id, payload, message, self.clock()))

    # ---- helpers ------------------------------------------------------------------------

    def _interrupt_pending(self, conn: Connection, children_only: bool) -> None:
        where = [Program.run_id == self.run_id, Program.status == ProgramStatus.PENDING]
        if children_only:
            where.append(Program.iteration > 0)
        conn.execute(
            update(Program)
            .where(*where)
            .values(status=ProgramStatus.INTERRUPTED, error=INTERRUPTED_ERROR, failure_kind=FailureKind.INTERRUPTED)
        )
