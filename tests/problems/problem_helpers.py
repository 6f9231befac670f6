"""What every problem's tests share: evaluating a program on the training or held-out set."""

from evolve.sandbox import EvalRequest


def evaluate(sandbox, problem, code, heldout=False):
    function = problem.config.evaluation.heldout_function if heldout else None
    return sandbox.evaluate(EvalRequest.for_problem(problem, code, function=function))


def rejection(sandbox, problem, code, heldout=False) -> str:
    """Evaluate `code`, which must get no score, and return why: the evaluator's reason."""
    out = evaluate(sandbox, problem, code, heldout)
    assert not out.ok and out.score is None, f"expected no score, got {out.score} ({out.reason})"
    return out.reason
