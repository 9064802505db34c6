"""The model service: Snowflake's Model Registry inference protocol over the served model.

``POST /predict-proba`` answers ``{"data": [[i, {"output_feature_0": P(class 0),
"output_feature_1": P(class 1), ...}], ...]}`` (scikit-learn ``predict_proba`` column order) and
``POST /predict`` answers the class label (1 when P(class 1) > 0.5) as ``output_feature_0``. Row
indexes are echoed in request order. Each answer object also carries riskscore's extension members
(``raw_score``, ``reason_codes``, ``model_name``, ``model_version``, ``feature_schema_version``),
which Snowflake clients ignore. Reason codes: ``params.explain`` per row, 3 when absent, 0 for none.

Errors are RFC 9457 ``application/problem+json`` with a ``detail`` and, for clients written against
Snowflake's legacy inference server, an ``error`` member carrying the same message. The protocol and
every choice are written down in docs/model-service.md.

Handlers read the raw body and decode it with one reused msgspec ``Decoder``: Litestar's own body
parsing and OpenAPI generation are skipped on purpose, this service is on the latency path.
"""

from __future__ import annotations

import gc
from typing import Any

import msgspec
import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException

from riskscore.adapters.http.model_wire import (
    BadRequest,
    FeatureLayout,
    ParsedRequest,
    PredictBody,
    parse_body,
    validation_message,
)
from riskscore.adapters.treemodel.serving import ServingModel
from riskscore.domain.scoring import ModelPrediction
from riskscore.ports.model_registry import ScoringModel

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_ROWS = 10_000
DEFAULT_EXPLAIN = 3
PROBLEM_JSON = "application/problem+json"


class WireReasonCode(msgspec.Struct):
    feature: str
    contribution: float
    value: float | None


class ProbaOutput(msgspec.Struct):
    output_feature_0: float
    output_feature_1: float
    raw_score: float
    reason_codes: list[WireReasonCode]
    model_name: str
    model_version: str
    feature_schema_version: str


class LabelOutput(msgspec.Struct):
    output_feature_0: int
    raw_score: float
    reason_codes: list[WireReasonCode]
    model_name: str
    model_version: str
    feature_schema_version: str


class Problem(msgspec.Struct, omit_defaults=True):
    title: str
    status: int
    detail: str
    error: str
    type: str = "about:blank"


class Health(msgspec.Struct):
    status: str
    model_name: str
    model_version: str
    feature_schema_version: str


_encoder = msgspec.json.Encoder()


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response[bytes]:
    body = _encoder.encode(Problem(title=title, status=status, detail=detail, error=detail))
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _reasons(prediction: ModelPrediction) -> list[WireReasonCode]:
    return [WireReasonCode(r.feature, r.contribution, r.value) for r in prediction.reason_codes]


def _proba_rows(
    indexes: list[int], predictions: list[ModelPrediction], model: ScoringModel
) -> list[tuple[int, ProbaOutput]]:
    name, version, schema = model.ref.name, model.ref.version, model.feature_schema_version
    return [
        (
            index,
            ProbaOutput(
                1.0 - p.probability, p.probability, p.raw_score, _reasons(p), name, version, schema
            ),
        )
        for index, p in zip(indexes, predictions, strict=True)
    ]


def _label_rows(
    indexes: list[int], predictions: list[ModelPrediction], model: ScoringModel
) -> list[tuple[int, LabelOutput]]:
    name, version, schema = model.ref.name, model.ref.version, model.feature_schema_version
    return [
        (
            index,
            LabelOutput(int(p.probability > 0.5), p.raw_score, _reasons(p), name, version, schema),
        )
        for index, p in zip(indexes, predictions, strict=True)
    ]


def create_model_server_app(
    serving: ServingModel,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
    default_explain: int = DEFAULT_EXPLAIN,
    retry_after_s: int = 1,
) -> Litestar:
    """Build the model service over ``serving``; whoever built ``serving`` starts and stops it."""
    layout = FeatureLayout(serving.schema.names)
    decoder = msgspec.json.Decoder(PredictBody)
    log = structlog.get_logger("riskscore.model_server")
    unavailable_headers = {"Retry-After": str(retry_after_s)}

    def no_model() -> Response[bytes]:
        return problem(503, "Service Unavailable", "no model is loaded", unavailable_headers)

    async def parse(request: Request[Any, Any, Any]) -> ParsedRequest:
        body = await request.body()
        if not body:
            raise BadRequest("request body is empty; send a JSON object")
        try:
            decoded = decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise BadRequest(validation_message(exc)) from exc
        except msgspec.DecodeError as exc:
            raise BadRequest(f"request body is not valid JSON: {exc}") from exc
        return parse_body(decoded, layout, max_rows)

    async def score(request: Request[Any, Any, Any], *, proba: bool) -> Response[bytes]:
        model = serving.current()
        if model is None:
            return no_model()
        try:
            parsed = await parse(request)
        except BadRequest as exc:
            # The message may echo client-chosen column names: not logged (never log evidence).
            log.info("model_server.bad_request", path=request.url.path)
            return problem(400, "Bad Request", str(exc))
        explain = default_explain if parsed.explain is None else parsed.explain
        try:
            predictions = model.predict(parsed.matrix, explain=explain)
        except ValueError as exc:
            return problem(400, "Bad Request", f"the model refused the input: {exc}")
        rows = (_proba_rows if proba else _label_rows)(parsed.indexes, predictions, model)
        return Response(
            _encoder.encode({"data": rows}),
            media_type="application/json",
            headers={
                "X-Model-Name": model.ref.name,
                "X-Model-Version": model.ref.version,
                "X-Feature-Schema-Version": model.feature_schema_version,
            },
        )

    @post("/predict-proba", status_code=200)
    async def predict_proba(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await score(request, proba=True)

    @post("/predict", status_code=200)
    async def predict(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await score(request, proba=False)

    @get("/health")
    async def health() -> Response[bytes]:
        model = serving.current()
        if model is None:
            return no_model()
        body = Health("ok", model.ref.name, model.ref.version, model.feature_schema_version)
        return Response(_encoder.encode(body), media_type="application/json")

    def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
        title = {404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large"}.get(
            exc.status_code, "Error"
        )
        detail = (
            f"request body exceeds {max_body_bytes} bytes"
            if exc.status_code == 413
            else str(exc.detail)
        )
        return problem(exc.status_code, title, detail, exc.headers)

    def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        log.error(
            "model_server.internal_error", path=request.url.path, error_type=type(exc).__name__
        )
        return problem(500, "Internal Server Error", "the model service failed; see its log")

    return Litestar(
        route_handlers=[predict_proba, predict, health],
        # As in the API: what exists at start-up lives for good; collections stop walking it.
        on_startup=[gc.freeze],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        request_max_body_size=max_body_bytes,
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
