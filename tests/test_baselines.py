"""`python -m evolve.baselines`: the command each problem README gives for its baseline figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evolve.baselines import Measurement, format_measurement, main, measure, reference_programs
from evolve.problem import load_problem
from evolve.sandbox import EvalOutcome, EvalRequest

ROOT = Path(__file__).resolve().parents[1]
TXN = ROOT / "problems" / "txn_scheduling"


@dataclass
class RecordingSandbox:
    """Fails the held-out function, passes the training one; remembers what it was asked."""

    requests: list[EvalRequest] = field(default_factory=list)
    name: str = "recording"

    def evaluate(self, request: EvalRequest) -> EvalOutcome:
        self.requests.append(request)
        if request.function == "evaluate":
            return EvalOutcome(ok=True, score=1.25, duration=0.5)
        return EvalOutcome(ok=False, score=None, reason="timeout: ran past 30 s")

    def close(self) -> None:
        pass


def test_reference_programs_are_the_initial_program_then_the_baselines():
    problem = load_problem(TXN)
    assert reference_programs(problem) == [TXN / "initial_program.py", TXN / "baselines" / "shortest_makespan_first.py"]


def test_measures_train_and_heldout_and_says_what_failed():
    problem = load_problem(TXN)
    sandbox = RecordingSandbox()
    [measurement] = measure(problem, [problem.program_path], sandbox)
    assert [r.function for r in sandbox.requests] == ["evaluate", problem.config.evaluation.heldout_function]
    assert sandbox.requests[1].cascade == ()  # the held-out set scores the program in full
    assert sandbox.requests[0].code == problem.initial_code
    line = format_measurement(measurement, relative_to=ROOT)
    assert (
        line
        == "problems/txn_scheduling/initial_program.py:  train 1.250 (0.5 s)  held-out FAILED: timeout: ran past 30 s"
    )


def test_no_heldout_function_measures_train_only():
    outcome = EvalOutcome(ok=True, score=2.0, duration=1.0)
    assert format_measurement(Measurement(Path("/x/p.py"), outcome, None)) == "/x/p.py:  train 2.000 (1.0 s)"


def test_the_readme_command_gives_the_readme_figures(capsys):
    # problems/txn_scheduling/README.md: greedy 1.554x / 1.504x, Shortest-Makespan-First 1.937x / 1.811x.
    assert main([str(TXN)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in lines] == [
        "initial_program.py",
        "shortest_makespan_first.py",
    ]
    assert "train 1.554 " in lines[0] and "held-out 1.504 " in lines[0]
    assert "train 1.937 " in lines[1] and "held-out 1.811 " in lines[1]
