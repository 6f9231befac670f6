"""The population actor's logic, without Ray: seeded choices, duplicates, rebuild on resume."""

from dataclasses import replace

from evolve.engine.options import RunOptions
from evolve.engine.population_actor import PopulationActor
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import MutatorSettings, propose
from evolve.sandbox.base import EvalOutcome
from evolve.store import RunConfig

SETTINGS = MutatorSettings(problem=ProblemView("circle_packing", "", "python"))


def fake_outcome(code: str) -> EvalOutcome:
    score = (sum(map(ord, code)) % 1000) / 1000.0  # deterministic, varies with the code
    return EvalOutcome(ok=True, score=score, metrics={"score": score, "min_radius": score / 20}, sandbox="test")


def drive(db: PopulationActor, n: int) -> list[tuple]:
    trace = []
    start = db.start()
    if start.initial_ticket:
        db.submit_result(start.initial_ticket, fake_outcome(start.initial_ticket.code))
    for _ in range(n):
        task = db.next_task()
        proposal = propose(task, SETTINGS)
        admission = db.submit_proposal(proposal)
        trace.append(
            (
                task.iteration,
                task.island,
                task.parent.id,
                tuple(p.id for p in task.inspirations),
                admission.ticket is not None,
            )
        )
        if admission.ticket:
            db.submit_result(admission.ticket, fake_outcome(admission.ticket.code))
    return trace


def open_db(tmp_path, problem, name="r", seed=1, resume=False):
    return PopulationActor(
        f"sqlite:///{tmp_path / 'e.db'}", name, problem, RunConfig(), seed, "test", "offline", 100, resume
    )


def test_same_seed_same_choices(tmp_path, circle_packing):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = drive(open_db(tmp_path / "a", circle_packing), 60)
    b = drive(open_db(tmp_path / "b", circle_packing), 60)
    assert a == b
    assert len({island for _, island, *_ in a}) == circle_packing.config.population.islands


def test_duplicates_are_never_evaluated_twice(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    drive(db, 1)
    task = db.next_task()
    proposal = propose(task, SETTINGS)
    first = db.submit_proposal(proposal)
    second = db.submit_proposal(replace(proposal, iteration=proposal.iteration + 1000))
    assert first.ticket is not None and second.ticket is None
    assert second.progress.rejected == 1


def test_resume_rebuilds_the_islands(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    drive(db, 80)
    islands = [sorted(isl.by_id) for isl in db.population.islands]
    cells = [dict(isl.cells) for isl in db.population.islands]
    best, progress, next_iteration = db.population.best, db.progress, db.next_iteration
    db.close()
    again = open_db(tmp_path, circle_packing, resume=True)
    assert [sorted(isl.by_id) for isl in again.population.islands] == islands
    assert [dict(isl.cells) for isl in again.population.islands] == cells
    assert again.population.best == best and again.next_iteration == next_iteration
    assert (again.progress.completed, again.progress.evaluated, again.progress.failed) == (
        progress.completed,
        progress.evaluated,
        progress.failed,
    )


def test_a_child_interrupted_by_a_stop_can_be_evaluated_after_resume(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    drive(db, 5)
    proposal = propose(db.next_task(), SETTINGS)
    assert db.submit_proposal(proposal).ticket is not None  # stored as pending, never evaluated
    db.close()
    again = open_db(tmp_path, circle_packing, resume=True)
    retry = replace(proposal, iteration=again.next_task().iteration)
    assert again.submit_proposal(retry).ticket is not None


def test_resume_keeps_the_options_it_ran_with(tmp_path, circle_packing):
    from sqlalchemy import select

    from evolve.store import Run

    db = open_db(tmp_path, circle_packing)
    drive(db, 2)
    db.close()
    again = PopulationActor(
        f"sqlite:///{tmp_path / 'e.db'}",
        "r",
        circle_packing,
        RunConfig(options=RunOptions(iterations=200)),
        1,
        "test",
        "offline",
        200,
        True,
    )
    with again.Session() as s:
        run = s.scalars(select(Run)).one()
        assert run.config["options"]["iterations"] == 200 and run.iterations_target == 200


def test_failures_keep_their_kind_and_a_stop_interrupts_what_was_in_flight(tmp_path, circle_packing):
    from sqlalchemy import select

    from evolve.kinds import EventKind, FailureKind, ProgramStatus, StopKind
    from evolve.stop_reason import StopReason
    from evolve.store import Evaluation, Event, Program
    from evolve.store.events import PausePayload

    db = open_db(tmp_path, circle_packing)
    drive(db, 3)
    first = db.submit_proposal(propose(db.next_task(), SETTINGS)).ticket
    second = db.submit_proposal(propose(db.next_task(), SETTINGS)).ticket
    assert first is not None and second is not None
    db.submit_result(first, EvalOutcome.failure(FailureKind.MEMORY, "killed at 1024 MB", sandbox="test"))
    db.add_event(PausePayload("the engine went away"), "paused: the engine went away")
    db.finish(StopReason(StopKind.BUDGET, "budget reached"))  # `second` was still being evaluated
    with db.Session() as s:
        failed = s.get(Program, first.program_id)
        assert (failed.status, failed.failure_kind, failed.error) == (
            ProgramStatus.FAILED,
            FailureKind.MEMORY,
            "memory: killed at 1024 MB",
        )
        evaluation = s.scalars(select(Evaluation).where(Evaluation.program_id == first.program_id)).one()
        assert evaluation.failure_kind == FailureKind.MEMORY and not evaluation.ok
        lost = s.get(Program, second.program_id)
        assert (lost.status, lost.failure_kind) == (ProgramStatus.INTERRUPTED, FailureKind.INTERRUPTED)
        kinds = [e.kind for e in s.scalars(select(Event).order_by(Event.id))]
        assert kinds[0] == EventKind.START and kinds[-2:] == [EventKind.PAUSE, EventKind.STOP]
        assert all(p.failure_kind is None for p in s.scalars(select(Program).where(Program.status == "ok")))
    db.close()
