"""Small fakes of the scoring ports, shared by the use-case and API unit tests.

They behave like the real adapters in what the tests look at (order, errors, durability hand-off) and
record what they were asked, so a test can check *what* the use case did, not how.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from riskscore.domain.evidence import MibHit, MibReport, PolicyEvidence, RxFill, RxReport
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import AuditEntry, ModelPrediction, ModelRef, ReasonCode
from riskscore.ports.audit_trail import AuditStats, AuditTrail, AuditTrailError
from riskscore.ports.evidence_parser import EvidenceParser, MalformedEvidence
from riskscore.ports.model_client import ModelClient, ModelUnavailable

FAKE_SCHEMA_VERSION = "fake-schema-v1"
FEATURE_NAMES = ("mib_code_count", "rx_fill_count", "as_of_ordinal")


class FakeParser(EvidenceParser):
    """Counts ``<hit/>`` and ``<fill/>`` tags; a document starting with ``<bad`` is malformed."""

    def parse(
        self, policy_number: str, mib_xml: str | bytes, rx_xml: str | bytes
    ) -> PolicyEvidence:
        mib = mib_xml.decode() if isinstance(mib_xml, bytes) else mib_xml
        rx = rx_xml.decode() if isinstance(rx_xml, bytes) else rx_xml
        if mib.startswith("<bad"):
            raise MalformedEvidence("not well-formed (line 1)", document="mib_xml")
        if rx.startswith("<bad"):
            raise MalformedEvidence("not well-formed (line 1)", document="rx_xml")
        return PolicyEvidence(
            policy_number=policy_number,
            mib=MibReport(hits=tuple(MibHit(code="X") for _ in range(mib.count("<hit/>")))),
            rx=RxReport(fills=tuple(RxFill(generic_name="X") for _ in range(rx.count("<fill/>")))),
        )


def fake_extract(evidence: PolicyEvidence, as_of: dt.date) -> FeatureVector:
    return FeatureVector(
        schema_version=FAKE_SCHEMA_VERSION,
        values=(
            float(len(evidence.mib.hits)),
            float(len(evidence.rx.fills)),
            float(as_of.toordinal()),
        ),
    )


class FakeModelClient(ModelClient):
    """Probability = 0.1 * MIB hits + 0.02 * Rx fills (capped at 1); remembers each call's size."""

    def __init__(self, *, name: str = "EVIDENCE_RISK_MODEL", version: str = "V1") -> None:
        self.ref = ModelRef(name=name, version=version)
        self.available = True
        self.calls: list[int] = []
        self.closed = False

    async def predict(
        self, vectors: Sequence[FeatureVector], *, explain: int = 3
    ) -> list[ModelPrediction]:
        if not self.available:
            raise ModelUnavailable("model service is down", retry_after_s=2.0)
        self.calls.append(len(vectors))
        answers = []
        for vector in vectors:
            mib, rx = vector.values[0], vector.values[1]
            reasons = (
                ReasonCode(feature=FEATURE_NAMES[0], contribution=0.1 * mib, value=mib),
                ReasonCode(feature=FEATURE_NAMES[1], contribution=0.02 * rx, value=rx),
            )
            answers.append(
                ModelPrediction(
                    probability=min(1.0, 0.1 * mib + 0.02 * rx),
                    raw_score=mib + rx,
                    reason_codes=reasons[:explain],
                    model=self.ref,
                )
            )
        return answers

    async def ready(self) -> bool:
        return self.available

    async def aclose(self) -> None:
        self.closed = True


class RecordingAuditTrail(AuditTrail):
    """Keeps entries in memory; ``fail`` makes ``record`` refuse like a full disk would."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.fail = False
        self.started = False
        self.drained = False
        self.closed = False

    def record(self, entry: AuditEntry) -> None:
        self.record_many([entry])

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        if self.fail:
            raise AuditTrailError("journal is not writable")
        self.entries.extend(entries)

    def start(self) -> None:
        self.started = True

    def drain(self, timeout_s: float) -> bool:
        self.drained = True
        return True

    def close(self) -> None:
        self.closed = True

    def stats(self) -> AuditStats:
        return AuditStats(
            recorded=len(self.entries),
            delivered=len(self.entries),
            queue_depth=0,
            lag_s=0.0,
            failed_attempts=0,
            last_error_type=None,
            running=self.started and not self.closed,
        )
