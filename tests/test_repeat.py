"""[evaluation] repeat_best: the top programs measured again, recorded, and the best chosen by median.

The rule is pure (Repeats, winner); a short run of a noisy problem checks that the engine records
every repeat as an evaluation, keeps each program's median one, and declares the best by it."""

import json
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from evolve.engine.repeat import Repeats, winner
from evolve.kinds import EvaluationKind, FailureKind
from evolve.sandbox.base import EvalOutcome
from evolve.store import Evaluation, Event, Program, open_engine, session_factory


def ok(score: float) -> EvalOutcome:
    return EvalOutcome(ok=True, score=score, metrics={"score": score})


def failed() -> EvalOutcome:
    return EvalOutcome.failure(FailureKind.TIMEOUT, "ran past 60 s")


def test_the_median_repeat_is_recorded_last():
    r = Repeats(7, (ok(3.0), ok(1.0), ok(2.0)))
    assert [o.score for o in r.ordered()] == [1.0, 3.0, 2.0]
    assert r.median == 2.0


def test_an_even_count_takes_the_lower_median_a_score_some_evaluation_had():
    assert Repeats(1, (ok(4.0), ok(1.0), ok(3.0), ok(2.0))).median == 2.0


def test_failures_rank_below_every_score():
    assert Repeats(1, (failed(), ok(5.0), ok(4.0))).median == 4.0
    mostly_failed = Repeats(2, (failed(), failed(), ok(9.0)))
    assert mostly_failed.median is None  # its median repeat failed: it cannot be the best
    assert not mostly_failed.ordered()[-1].ok


def test_the_winner_has_the_highest_median_and_ties_go_to_the_first():
    lucky = Repeats(1, (ok(1.0), ok(1.0), ok(1.1)))  # its first score was the luckiest
    steady = Repeats(2, (ok(1.05), ok(1.06), ok(1.04)))
    twin = Repeats(3, (ok(1.05), ok(1.06), ok(1.04)))
    assert winner([lucky, steady, twin]) is steady
    assert winner([Repeats(4, (failed(),) * 3)]) is None
    assert winner([]) is None


NOISY_EVALUATE = """
import os

from evolve_eval import run_candidate


def evaluate(program_path):
    value = run_candidate(program_path, "value")
    noise = int.from_bytes(os.urandom(2), "big") / 65535 - 0.5  # a measurement's luck: +-0.5
    return {"score": float(value) + noise}


def evaluate_heldout(program_path):
    return {"score": float(run_candidate(program_path, "value"))}
"""

NOISY_PROGRAM = """
# EVOLVE-BLOCK-START
def value():
    return 10.0
# EVOLVE-BLOCK-END
"""


@pytest.fixture
def noisy_problem(tmp_path):
    folder = tmp_path / "noisy"
    folder.mkdir()
    (folder / "evaluate.py").write_text(NOISY_EVALUATE)
    (folder / "program.py").write_text(NOISY_PROGRAM)
    (folder / "problem.toml").write_text(
        textwrap.dedent(
            """
            name = "noisy"
            program = "program.py"

            [evaluation]
            timeout = 30
            heldout_function = "evaluate_heldout"
            repeat_best = 3

            [population]
            islands = 1
            """
        )
    )
    return folder


def test_a_run_measures_its_top_programs_again_and_declares_the_best_by_median(noisy_problem, ray_local, tmp_path):
    from evolve.engine.options import RunOptions
    from evolve.engine.run import evolve_run
    from evolve.problem import load_problem

    problem = load_problem(noisy_problem)
    result = evolve_run(
        problem, RunOptions(iterations=6, eval_workers=1, sandbox="process"), runs_root=tmp_path / "runs", run_name="n"
    )
    assert result.status == "finished" and result.best is not None
    engine = open_engine(result.db_url)
    with session_factory(engine)() as s:
        rows = s.execute(
            select(Evaluation.program_id, Evaluation.score, Evaluation.ok)
            .where(Evaluation.kind == EvaluationKind.TRAIN)
            .order_by(Evaluation.id)
        ).all()
        programs = {p.id: p for p in s.scalars(select(Program))}
        event = s.scalars(select(Event).where(Event.message.like("best after 3 repeats%"))).one()
    engine.dispose()
    by_program: dict[int, list[tuple[float | None, bool]]] = {}
    for program_id, score, passed in rows:
        by_program.setdefault(program_id, []).append((score, passed))
    repeated = {pid: evals for pid, evals in by_program.items() if len(evals) == 4}  # the first and 3 repeats
    initial = next(p.id for p in programs.values() if p.iteration == 0)
    assert initial in repeated and 2 <= len(repeated) <= 4  # the top 3, and the initial program beside them
    for pid, evals in repeated.items():
        repeats = sorted(score for score, _ in evals[1:])
        assert programs[pid].score == repeats[1]  # the program keeps its median repeat
    best = result.best
    medians = {pid: sorted(s for s, _ in evals[1:])[1] for pid, evals in repeated.items()}
    assert best.id == max(medians, key=lambda pid: medians[pid]) and best.score == max(medians.values())
    assert best.initial_score == medians[initial]  # the initial program measured the same way
    assert event.data["program_id"] == best.id and len(event.data["repeats"]) == 3
    summary = json.loads((Path(result.run_dir) / "summary.json").read_text())
    assert summary["best_score"] == best.score and summary["best_heldout_score"] is not None
