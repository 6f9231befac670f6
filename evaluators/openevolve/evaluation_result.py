"""`EvaluationResult` as OpenEvolve evaluators build it: numeric `metrics` (combined_score is the
score) and named `artifacts` (text or bytes) that the next prompt shows. evolve reads any object
with these two attributes (evolve_results.py); this class only lets `from
openevolve.evaluation_result import EvaluationResult` work without OpenEvolve installed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvaluationResult:
    metrics: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics: dict) -> EvaluationResult:
        return cls(metrics=dict(metrics))

    def to_dict(self) -> dict:
        return self.metrics

    def has_artifacts(self) -> bool:
        return bool(self.artifacts)

    def get_artifact_keys(self) -> list:
        return list(self.artifacts)
