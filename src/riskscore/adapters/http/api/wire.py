"""The API's wire format: edge-owned request and answer structs, mapped explicitly to domain values.

Bodies are decoded from the raw bytes by reused ``msgspec`` decoders (strict types, unknown fields
refused) and answers are encoded to bytes by one reused encoder: no per-request schema work.

Service-function rows (Snowflake external-function format) are decoded in two steps: a typed fast
path for a well-formed batch, and only when that fails a row-by-row look that decides whether the
*envelope* is malformed (400: a row that is not an array starting with an integer row index cannot
be answered in place) or a *row* is (a NULL or non-string argument, a wrong argument count: answered
in place with ``{"error": {...}}``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from riskscore.adapters.http.api.problems import ApiProblem, invalid_request, malformed_json
from riskscore.domain.scoring import RiskClass
from riskscore.domain.usecases.score_policy import (
    MAX_POLICY_NUMBER_LENGTH,
    ScoreFailure,
    ScoreRequest,
    ScoreResult,
)

PolicyNumber = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_POLICY_NUMBER_LENGTH, examples=["TEST-001"])
]


class ScoreBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/score``: one application."""

    policy_number: PolicyNumber
    mib_xml: Annotated[str, msgspec.Meta(description="The MIB report (XML).")]
    rx_xml: Annotated[str, msgspec.Meta(description="The prescription-history report (XML).")]
    as_of: Annotated[
        dt.date | None,
        msgspec.Meta(description="Evidence date for the features; default: today (UTC)."),
    ] = None


class ReasonCodeOut(msgspec.Struct, frozen=True, kw_only=True):
    feature: str
    contribution: float
    value: float | None = None


class ScoreAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The 200 answer of ``POST /v1/score`` and the object of a scored service-function row."""

    prediction_id: str
    policy_number: str
    risk_score: float
    risk_class: RiskClass
    model_name: str
    model_version: str
    reason_codes: tuple[ReasonCodeOut, ...]
    feature_schema_version: str
    feature_hash: str
    as_of: dt.date
    scored_at: dt.datetime
    inference_ms: float
    total_ms: float


class RowErrorDetail(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: str
    detail: str
    document: str | None = None


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    error: RowErrorDetail


class ServiceFunctionBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``{"data": [[row_index, policy_number, mib_xml, rx_xml], ...]}``."""

    data: list[tuple[int, str, str, str]]


AnswerRow = tuple[int, ScoreAnswer | RowError]
"""``[row_index, answer]`` or ``[row_index, {"error": {...}}]``."""


class ServiceFunctionAnswerDoc(msgspec.Struct, frozen=True):
    """For OpenAPI only (a union of two structs has no msgspec schema): an error row carries
    ``{"error": {"type": ..., "detail": ..., "document": ...}}`` instead of the answer."""

    data: list[tuple[int, ScoreAnswer]]


class ServiceFunctionAnswer(msgspec.Struct, frozen=True):
    data: list[AnswerRow]


class _LooseBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    data: list[Any]


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok", "unavailable"]
    model_ready: bool


_score_decoder = msgspec.json.Decoder(ScoreBody)
_batch_decoder = msgspec.json.Decoder(ServiceFunctionBody)
_loose_decoder = msgspec.json.Decoder(_LooseBody)
_encoder = msgspec.json.Encoder()
encode = _encoder.encode


T = TypeVar("T")


def _decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode or raise the problem that says why not. msgspec raises ``RecursionError`` on absurdly
    nested JSON where it must skip or build untyped values: that is bad input too, not a 500."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise invalid_request(exc) from None
    except msgspec.DecodeError as exc:
        raise malformed_json(exc) from None
    except RecursionError:
        raise ApiProblem(
            400, "malformed-json", "Request body is not valid JSON", "JSON is nested too deeply"
        ) from None


def decode_score(body: bytes) -> ScoreRequest:
    wire = _decode(_score_decoder, body)
    return ScoreRequest(
        policy_number=wire.policy_number,
        mib_xml=wire.mib_xml,
        rx_xml=wire.rx_xml,
        as_of=wire.as_of,
        source="api",
    )


BatchRow = tuple[int, ScoreRequest | RowError]


def decode_batch(body: bytes) -> list[BatchRow]:
    """Rows in order: a request to score, or the error that answers the row in place."""
    try:
        envelope = _decode(_batch_decoder, body)
    except ApiProblem as problem:
        if problem.slug != "invalid-request":
            raise
        return _decode_batch_slowly(body)
    return [
        (index, ScoreRequest(policy_number=p, mib_xml=m, rx_xml=r, source="service-function"))
        for index, p, m, r in envelope.data
    ]


_ARGUMENTS = ("policy_number", "mib_xml", "rx_xml")


def _decode_batch_slowly(body: bytes) -> list[BatchRow]:
    envelope = _decode(_loose_decoder, body)
    rows: list[BatchRow] = []
    for position, row in enumerate(envelope.data):
        if not (isinstance(row, list) and row and type(row[0]) is int):
            raise ApiProblem(
                400,
                "malformed-envelope",
                "Service-function envelope is malformed",
                f"row {position} is not an array starting with an integer row index",
            )
        rows.append((row[0], _row(row[1:])))
    return rows


def _row(args: list[Any]) -> ScoreRequest | RowError:
    if len(args) != len(_ARGUMENTS):
        return row_error(
            "invalid-row",
            f"expected {len(_ARGUMENTS)} arguments after the row index, got {len(args)}",
        )
    for name, value in zip(_ARGUMENTS, args, strict=True):
        if value is None:
            return row_error("null-argument", f"{name} is NULL")
        if not isinstance(value, str):
            return row_error("invalid-argument", f"{name} must be a string")
    policy, mib, rx = args
    return ScoreRequest(policy_number=policy, mib_xml=mib, rx_xml=rx, source="service-function")


def row_error(slug: str, detail: str, document: str | None = None) -> RowError:
    return RowError(error=RowErrorDetail(type=slug, detail=detail, document=document))


def failure_row(failure: ScoreFailure) -> RowError:
    return row_error(failure.type, failure.detail, failure.document)


def answer(result: ScoreResult) -> ScoreAnswer:
    record = result.prediction
    return ScoreAnswer(
        prediction_id=record.prediction_id,
        policy_number=record.policy_number,
        risk_score=record.risk_score,
        risk_class=record.risk_class,
        model_name=record.model_name,
        model_version=record.model_version,
        reason_codes=tuple(
            ReasonCodeOut(feature=r.feature, contribution=r.contribution, value=r.value)
            for r in record.reason_codes
        ),
        feature_schema_version=record.feature_schema_version,
        feature_hash=record.feature_hash,
        as_of=record.as_of,
        scored_at=record.scored_at,
        inference_ms=round(record.inference_ms, 3),
        total_ms=round(record.total_ms, 3),
    )
