"""Measure the initial program and every baseline of this problem, training and held-out.

Run from the repository root:  python problems/<name>/baselines/measure.py [program.py ...]
Uses the local process sandbox (the same path evolution takes, minus Docker).
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from evolve.problem import load_problem  # noqa: E402
from evolve.sandbox import EvalRequest, make_sandbox  # noqa: E402

folder = pathlib.Path(__file__).resolve().parents[1]
problem = load_problem(folder)
sandbox = make_sandbox("process", warn=False)
programs = [pathlib.Path(p) for p in sys.argv[1:]] or [
    problem.program_path,
    *sorted(p for p in (folder / "baselines").glob("*.py") if p.name != "measure.py"),
]
for path in programs:
    code = path.read_text()
    row = [f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:"]
    for label, fn in (("train", None), ("held-out", problem.config.evaluation.heldout_function)):
        out = sandbox.evaluate(EvalRequest.for_problem(problem, code, function=fn))
        row.append(f"{label} {out.score:.3f} ({out.duration:.1f} s)" if out.ok else f"{label} FAILED: {out.reason}")
    print("  ".join(row))
