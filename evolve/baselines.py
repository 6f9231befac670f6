"""Measuring a problem's reference programs: where each README's "Baselines (measured)" figures come from.

The initial program and every `baselines/*.py` of the problem folder are scored on the training
function and on the held-out one, through a sandbox on this host (the local process sandbox by
default: the path evolution takes, minus Docker). Run from anywhere:

    python -m evolve.baselines problems/<name> [program.py ...] [--sandbox docker]
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from evolve.errors import EvolveError
from evolve.problem import Problem, load_problem
from evolve.sandbox import EvalOutcome, EvalRequest, Sandbox, SandboxKind, make_sandbox


@dataclass(frozen=True)
class Measurement:
    program: Path
    train: EvalOutcome
    heldout: EvalOutcome | None  # None: the problem declares no held-out function


def reference_programs(problem: Problem) -> list[Path]:
    """The initial program, then the problem's baselines in name order."""
    baselines = problem.root / "baselines"
    return [problem.program_path, *sorted(baselines.glob("*.py"))]


def measure(
    problem: Problem, programs: Sequence[Path], sandbox: Sandbox, template: EvalRequest | None = None
) -> Iterator[Measurement]:
    """Score each program on the training function and, where declared, the held-out one.

    `template` is the request to start from (the Docker sandbox needs the problem's image on it);
    by default the problem's own request. Yields as it goes: a slow reference shows up when done."""
    template = template or EvalRequest.for_problem(problem, code="")
    heldout_function = problem.config.evaluation.heldout_function
    for path in programs:
        request = replace(template, code=path.read_text())
        train = sandbox.evaluate(request)
        heldout = (
            sandbox.evaluate(replace(request, function=heldout_function, cascade=())) if heldout_function else None
        )
        yield Measurement(path, train, heldout)


def format_measurement(measurement: Measurement, relative_to: Path | None = None) -> str:
    """One line: `path:  train 36.417 (1.1 s)  held-out 34.983 (0.5 s)`, or what failed."""
    path = measurement.program
    if relative_to is not None and path.is_relative_to(relative_to):
        path = path.relative_to(relative_to)
    row = [f"{path}:"]
    for label, outcome in (("train", measurement.train), ("held-out", measurement.heldout)):
        if outcome is None:
            continue
        ok = outcome.ok and outcome.score is not None
        row.append(
            f"{label} {outcome.score:.3f} ({outcome.duration:.1f} s)" if ok else f"{label} FAILED: {outcome.reason}"
        )
    return "  ".join(row)


def _open_sandbox(problem: Problem, name: str) -> tuple[Sandbox, EvalRequest | None]:
    if name == SandboxKind.DOCKER:
        from evolve.sandbox.template import evaluation_template  # builds or finds the problem's image

        template = evaluation_template(problem, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make_sandbox(name), template
    return make_sandbox(name, warn=False), None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evolve.baselines", description=__doc__.splitlines()[0])
    parser.add_argument("problem", type=Path, help="the problem folder (problems/<name>)")
    parser.add_argument(
        "programs",
        type=Path,
        nargs="*",
        help="programs to score (default: the initial program and every baselines/*.py)",
    )
    parser.add_argument("--sandbox", default=SandboxKind.PROCESS, help="process (default) or docker")
    args = parser.parse_args(argv)
    try:
        problem = load_problem(args.problem)
        sandbox, template = _open_sandbox(problem, args.sandbox)
    except EvolveError as exc:
        parser.exit(1, f"error: {exc}\n")
    programs = [p.resolve() for p in args.programs] or reference_programs(problem)
    failed = False
    try:
        for measurement in measure(problem, programs, sandbox, template):
            failed |= not measurement.train.ok or (measurement.heldout is not None and not measurement.heldout.ok)
            print(format_measurement(measurement, relative_to=Path.cwd()), flush=True)
    finally:
        sandbox.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
