"""Scores, reason codes, model references and the prediction record kept for lineage."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from riskscore.domain.features.schema import FeatureVector

RiskClass = Literal["preferred", "standard", "substandard", "refer"]
"""Risk classes, best first. ``refer`` flags for human review: riskscore never declines on its own
(MIB rules forbid action on an MIB code alone, and adverse decisions need a person and a notice)."""

Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class ModelRef(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str


class ReasonCode(msgspec.Struct, frozen=True, kw_only=True):
    """A feature's signed contribution to the model's raw (log-odds) score for one prediction."""

    feature: str
    contribution: float
    value: float | None = None


class RiskClassThresholds(msgspec.Struct, frozen=True, kw_only=True):
    """Upper bounds (exclusive) of the probability for each class; above ``substandard`` is refer."""

    preferred: Probability = 0.05
    standard: Probability = 0.15
    substandard: Probability = 0.35

    def __post_init__(self) -> None:
        if not (self.preferred <= self.standard <= self.substandard):
            raise ValueError("risk class thresholds must be non-decreasing")

    def classify(self, probability: float) -> RiskClass:
        if probability < self.preferred:
            return "preferred"
        if probability < self.standard:
            return "standard"
        if probability < self.substandard:
            return "substandard"
        return "refer"


class ModelPrediction(msgspec.Struct, frozen=True, kw_only=True):
    """What a model answers for one feature vector."""

    probability: Probability
    raw_score: float
    reason_codes: tuple[ReasonCode, ...] = ()
    model: ModelRef


class RiskScore(msgspec.Struct, frozen=True, kw_only=True):
    probability: Probability
    risk_class: RiskClass
    reason_codes: tuple[ReasonCode, ...]
    model: ModelRef


class PredictionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Everything needed to explain and reproduce one decision (FCRA / NAIC #668 lineage)."""

    prediction_id: str
    policy_number: str
    risk_score: float
    risk_class: RiskClass
    model_name: str
    model_version: str
    feature_schema_version: str
    feature_hash: str
    reason_codes: tuple[ReasonCode, ...]
    scored_at: dt.datetime
    as_of: dt.date
    inference_ms: float = 0.0
    total_ms: float = 0.0
    source: str = "api"
    batch_run_id: str | None = None


class FeatureRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A scored feature vector as kept by the online feature store, keyed by ``prediction_id``."""

    prediction_id: str
    policy_number: str
    as_of: dt.date
    feature_ts: dt.datetime
    vector: FeatureVector


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """The unit the audit trail journals before answering and later delivers to both stores."""

    prediction: PredictionRecord
    features: FeatureRecord
