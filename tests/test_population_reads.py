"""The population actor's reads (evolve/store/population_reads.py) and its view cache
(evolve/engine/program_views.py), on a real SQLite store filled by a real actor."""

from sqlalchemy import func, select
from test_population_actor import drive, open_db

from evolve.engine.program_views import ProgramViews
from evolve.kinds import EvaluationKind, EventKind
from evolve.store import Evaluation, LLMCall, Program
from evolve.store.population_reads import read_cells, read_codes, read_initial, read_snapshot


def test_the_snapshot_holds_what_a_resume_rebuilds_from(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    drive(db, 40)
    snapshot = read_snapshot(db.engine, db.run_id)
    with db.Session() as s:
        ids = s.scalars(select(Program.id).where(Program.run_id == db.run_id).order_by(Program.id)).all()
        calls = s.scalar(select(func.count()).select_from(LLMCall).where(LLMCall.run_id == db.run_id))
        latest = dict(
            s.execute(
                select(Evaluation.program_id, func.max(Evaluation.id))
                .where(Evaluation.kind == EvaluationKind.TRAIN)
                .group_by(Evaluation.program_id)
            ).all()
        )
    assert [p.id for p in snapshot.programs] == list(ids)  # every program, in id order
    assert len(snapshot.calls) == calls and snapshot.evaluations == latest
    assert snapshot.events and {e.payload.event for e in snapshot.events} <= {EventKind.RESET, EventKind.MIGRATION}
    assert [e.id for e in snapshot.events] == sorted(e.id for e in snapshot.events)
    assert len(snapshot.pulls) == 40 and all(p.finished for p in snapshot.pulls)  # each iteration ended
    initial = read_initial(db.engine, db.run_id)
    assert initial is not None and initial.id == ids[0] and initial.code == circle_packing.initial_code
    assert read_codes(db.engine, [ids[0]]) == {ids[0]: circle_packing.initial_code}
    cells = read_cells(db.engine, list(ids))
    assert all(cells[p.id] == p.cell for p in snapshot.programs)
    db.close()


def test_program_views_keep_the_latest_used(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    drive(db, 10)
    first, second, third = [p.id for p in read_snapshot(db.engine, db.run_id).programs[:3]]
    views = ProgramViews(db.engine, size=2)
    assert views.one(first).code == circle_packing.initial_code
    views.get([second, first])  # `first` used last: `second` is the oldest
    views.one(third)
    assert list(views.cache) == [first, third]
    db.close()
