"""What every problem's tests share: evaluating a program on the training or held-out set."""

from evolve.sandbox import EvalRequest


def evaluate(sandbox, problem, code, heldout=False):
    function = problem.config.evaluation.heldout_function if heldout else None
    return sandbox.evaluate(EvalRequest.for_problem(problem, code, function=function))
