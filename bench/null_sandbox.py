"""A sandbox that evaluates nothing: it scores a candidate by a hash of its code, instantly.

Only for measuring the engine's own overhead (bench/engine_speed.py); never for real runs.
"""

import hashlib

from evolve.sandbox.base import EvalOutcome, EvalRequest


class NullSandbox:
    name = "null"

    def __init__(self, **_):
        pass

    def evaluate(self, request: EvalRequest) -> EvalOutcome:
        digest = hashlib.sha256(request.code.encode()).digest()
        score = int.from_bytes(digest[:4], "big") / 2**32
        return EvalOutcome(ok=True, score=score, metrics={"score": score}, sandbox=self.name)

    def close(self) -> None:
        pass
