"""What evaluators return, in every shape evolve reads: made plain inside the sandbox
(evaluators/evolve_results.py), then interpreted on the host (evolve/sandbox/result.py)."""

import asyncio
import json
import re
import sys
from dataclasses import dataclass

import pytest

from evolve.kinds import FailureKind
from evolve.mutate.prompt import ProgramView
from evolve.sandbox.result import interpret

from evaluators_path import EVALUATORS

sys.path.insert(0, str(EVALUATORS))
import evolve_results
from openevolve.evaluation_result import EvaluationResult

sys.path.remove(str(EVALUATORS))


@dataclass
class Scores:
    combined_score: float
    speed: float


def outcome_of(plain: dict, **report):
    line = json.dumps({**plain, **report, "logs": ""}).encode()
    return interpret(line, exit_code=0, timed_out=False, duration=0.1, sandbox="process")


def test_openevolve_result_object_with_artifacts():
    plain = evolve_results.plain(EvaluationResult({"combined_score": 0.5, "error": 0.0}, {"stderr": "boom"}))
    outcome = outcome_of(plain)
    assert outcome.ok and outcome.score == 0.5  # a numeric "error" is no rejection
    assert "## stderr\nboom" in outcome.feedback


def test_dataclass_and_coroutine_results():
    assert evolve_results.plain(Scores(0.25, 3.0))["result"] == {"combined_score": 0.25, "speed": 3.0, "score": 0.25}

    async def evaluate():
        return {"score": 2}

    assert evolve_results.plain(evolve_results.settle(evaluate()))["result"] == {"score": 2}
    assert asyncio.iscoroutinefunction(evaluate)


def test_skydiscover_container_json():
    raw = {"status": "success", "combined_score": 0.7, "metrics": {"x": 1}, "artifacts": {"note": "hi"}}
    plain = evolve_results.plain(raw)
    assert plain["result"] == {"x": 1, "combined_score": 0.7, "score": 0.7} and plain["artifacts"] == {"note": "hi"}


def test_shinka_public_private_and_text():
    raw = {"combined_score": 1.5, "public": {"n": 26, "shape": "hex"}, "private": {"secret": 9.0, "why": "x"}}
    outcome = outcome_of(evolve_results.plain(raw))
    assert outcome.metrics == {"n": 26.0, "combined_score": 1.5, "score": 1.5, "private.secret": 9.0}
    assert "shape: hex" in outcome.feedback and "secret" not in outcome.feedback
    assert "[private] why: x" in outcome.logs
    view = ProgramView(id=1, code="", score=1.5, metrics=outcome.metrics)
    assert "private.secret" not in view.metrics and view.metrics["n"] == 26.0


def test_score_key_setting_wins_and_score_comes_first():
    assert evolve_results.plain({"score": 1, "combined_score": 2})["result"]["score"] == 1
    assert evolve_results.plain({"score": 1, "acc": 3}, "acc")["result"]["score"] == 3


@pytest.mark.parametrize(
    ("raw", "key", "expected"),
    [
        ({"accuracy": 0.9, "loss": 0.1}, None, "'score' or 'combined_score'.*'accuracy', 'loss'.*score = \"KEY\""),
        ({"accuracy": 0.9}, "acc", "no numeric 'acc'.*'accuracy'"),
        ({"score": "high"}, None, "the score 'score' is not a number"),
    ],
)
def test_a_missing_score_names_the_keys_and_the_setting(raw, key, expected):
    outcome = outcome_of(evolve_results.plain(raw, key))
    assert outcome.kind == FailureKind.INVALID_RESULT
    assert re.search(expected, outcome.reason), outcome.reason


def test_cascade_modes():
    plain = evolve_results.plain({"combined_score": 0.3})
    kept = outcome_of(plain, cascade_kept="evaluate_stage1")
    assert kept.ok and kept.score == 0.3 and "stopped after stage 'evaluate_stage1'" in kept.feedback
    failed = outcome_of(plain, cascade_stopped="evaluate_stage1")
    assert not failed.ok and failed.kind == FailureKind.CASCADE and failed.score == 0.3


def test_a_result_of_no_shape_is_named():
    outcome = outcome_of(evolve_results.plain([1, 2]))
    assert outcome.kind == FailureKind.INVALID_RESULT and "returned list" in outcome.reason
