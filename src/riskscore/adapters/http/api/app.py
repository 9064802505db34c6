"""The scoring API: ``create_app(container)`` builds the Litestar app (there is no module-level app).

Routes: ``POST /v1/score``, ``POST /v1/service-function/score`` (Snowflake external-function batch
format), ``GET /health`` (readiness), ``GET /metrics`` (Prometheus text), OpenAPI under ``/schema``.
Handlers are thin: decode the raw body with a reused msgspec decoder, call ``ScorePolicy``, encode the
answer to bytes. Every error is RFC 9457 problem+json (``problems.py``); docs/api.md lists them.

Choices (ours, documented in docs/api.md):
- a batch over ``max_batch_rows`` is 413 (the envelope is fine, the batch is too large: lower the
  function's ``MAX_BATCH_ROWS``); its body limit is ``max_batch_bytes``, the single-score route's is
  ``max_request_bytes``;
- more than ``max_inflight`` scoring requests in progress is 503 ``overloaded`` with ``Retry-After``
  (Snowflake retries 503s);
- API-key auth (``RISKSCORE_API_KEY``; ``X-API-Key`` or ``Authorization: Bearer``) guards the
  ``/v1`` routes only; ``/health``, ``/metrics`` and the OpenAPI document stay open.
"""

from __future__ import annotations

import gc
import hmac
from typing import TYPE_CHECKING, Any

import structlog
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send

import riskscore
from riskscore.adapters.http.api import wire
from riskscore.adapters.http.api.asgi import JsonBytes, read_body
from riskscore.adapters.http.api.bridge import ContainerBridge
from riskscore.adapters.http.api.hotpath import HOT_PATH_FAILURE, ScoreHotPath
from riskscore.adapters.http.api.observe import (
    REQUEST_ID_KEY,
    ApiMetrics,
    RequestObserver,
    observe_unrouted,
)
from riskscore.adapters.http.api.openapi import body_operation
from riskscore.adapters.http.api.problems import (
    PROBLEM_JSON,
    ApiProblem,
    FieldError,
    Problem,
    too_large,
)
from riskscore.domain.usecases.score_policy import (
    InvalidScoreRequest,
    ScorePolicy,
    ScoreResult,
)
from riskscore.ports.audit_trail import AuditTrailError
from riskscore.ports.evidence_parser import EvidenceError
from riskscore.ports.model_client import (
    ModelClient,
    ModelClientError,
    ModelInputError,
    ModelUnavailable,
)
from riskscore.settings import Settings

if TYPE_CHECKING:
    from riskscore.container import Container

JSON = MediaType.JSON
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class ApiState:
    """Everything a handler needs, as ONE dependency: the services the bridge resolved at start-up,
    metrics, limits and the in-flight count. (Litestar resolves several dependencies of a handler
    concurrently in an anyio task group, which costs more than the whole in-process score.)"""

    def __init__(self, bridge: ContainerBridge, settings: Settings) -> None:
        self.bridge = bridge
        self.metrics = ApiMetrics()
        self.max_inflight = settings.max_inflight
        self.max_batch_rows = settings.max_batch_rows
        self.max_request_bytes = settings.max_request_bytes
        self.max_batch_bytes = settings.max_batch_bytes
        self.inflight = 0
        self.metrics.inflight = lambda: self.inflight

    def provide(self) -> ApiState:
        """The typed provider function handlers reach it through (``NamedDependency[ApiState]``)."""
        return self

    @property
    def score_policy(self) -> ScorePolicy:
        return self.bridge.score_policy()

    @property
    def model_client(self) -> ModelClient:
        return self.bridge.model_client()

    def __enter__(self) -> None:
        if self.inflight >= self.max_inflight:
            raise ApiProblem(
                503,
                "overloaded",
                "Too many requests in progress",
                f"{self.inflight} scoring requests are in progress (limit {self.max_inflight})",
                retry_after_s=1.0,
            )
        self.inflight += 1

    def __exit__(self, *_: object) -> None:
        self.inflight -= 1


def _problems(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem, media_type=PROBLEM_JSON, description="Problem details"
        )
        for status in statuses
    }


async def score(request: Request[Any, Any, Any], api: NamedDependency[ApiState]) -> JsonBytes:
    failure = request.scope["state"].pop(HOT_PATH_FAILURE, None)
    if failure is not None:  # met on the hot path (hotpath.py): answered here, not run twice
        raise failure
    body = await read_body(request.scope, request.receive, api.max_request_bytes)
    score_request = wire.decode_score(body)
    with api:
        result = await api.score_policy.score(score_request)
    api.metrics.scored((result,))
    return JsonBytes(wire.encode(wire.answer(result)))


async def score_service_function(
    request: Request[Any, Any, Any], api: NamedDependency[ApiState]
) -> JsonBytes:
    rows = wire.decode_batch(await read_body(request.scope, request.receive, api.max_batch_bytes))
    if len(rows) > api.max_batch_rows:
        raise ApiProblem(
            413,
            "too-many-rows",
            "Batch exceeds the row limit",
            f"the batch has {len(rows)} rows; the limit is {api.max_batch_rows}",
        )
    to_score = [row for _, row in rows if not isinstance(row, wire.RowError)]
    with api:
        outcomes = iter(await api.score_policy.score_batch(to_score))
    data: list[wire.AnswerRow] = []
    scored: list[ScoreResult] = []
    for index, row in rows:
        if not isinstance(row, wire.RowError):
            outcome = next(outcomes)
            if isinstance(outcome, ScoreResult):
                data.append((index, wire.answer(outcome)))
                scored.append(outcome)
                continue
            row = wire.failure_row(outcome)
        api.metrics.row_failed(row.error.type)
        data.append((index, row))
    api.metrics.scored(scored)
    return JsonBytes(wire.encode(wire.ServiceFunctionAnswer(data=data)))


async def health(api: NamedDependency[ApiState]) -> Response[bytes]:
    try:
        ready = await api.model_client.ready()
    except Exception:  # a probe answers, it does not crash; the client logs its own failures
        ready = False
    if not ready:
        raise ApiProblem(
            503,
            "model-unavailable",
            "No model is available",
            "no model is loaded or the model service does not answer",
            retry_after_s=1.0,
        )
    return Response(wire.encode(wire.Health(status="ok", model_ready=True)), media_type=JSON)


async def metrics(api: NamedDependency[ApiState]) -> Response[bytes]:
    return Response(api.metrics.render().encode(), media_type=PROMETHEUS_TEXT)


def route_handlers(settings: Settings) -> list[HTTPRouteHandler]:
    """Fresh handler objects per app, with this app's guards and body limits."""
    guards = [api_key_guard(settings.api_key)] if settings.api_key else []
    return [
        post(
            "/v1/score",
            status_code=200,
            summary="Score one application",
            guards=guards,
            request_max_body_size=settings.max_request_bytes,
            operation_class=body_operation(
                wire.ScoreBody, "A policy number and its two evidence documents."
            ),
            responses={
                200: ResponseSpec(data_container=wire.ScoreAnswer, description="The score"),
                **_problems(400, 401, 413, 422, 503),
            },
        )(score),
        post(
            "/v1/service-function/score",
            status_code=200,
            summary="Score a batch (Snowflake service-function format)",
            guards=guards,
            request_max_body_size=settings.max_batch_bytes,
            operation_class=body_operation(
                wire.ServiceFunctionBody,
                "Rows of [row_index, policy_number, mib_xml, rx_xml], as Snowflake sends them.",
            ),
            responses={
                200: ResponseSpec(
                    data_container=wire.ServiceFunctionAnswerDoc,
                    description="One row per input row, same order; bad rows carry an error.",
                ),
                **_problems(400, 401, 413, 503),
            },
        )(score_service_function),
        get(
            "/health",
            summary="Readiness: 200 when a model is loaded and answering",
            responses=_problems(503),
        )(health),
        get("/metrics", summary="Prometheus metrics", media_type=PROMETHEUS_TEXT)(metrics),
    ]


def api_key_guard(api_key: str) -> Any:
    """A guard accepting ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``."""
    expected = api_key.encode()

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        presented = connection.headers.get("x-api-key")
        if presented is None:
            authorization = connection.headers.get("authorization", "")
            scheme, _sep, token = authorization.partition(" ")
            presented = token.strip() if scheme.lower() == "bearer" else None
        if presented is None:
            raise _unauthorized("send the API key in X-API-Key or Authorization: Bearer")
        if not hmac.compare_digest(presented.encode(), expected):
            raise _unauthorized("the API key is not valid")

    return guard


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401,
        "unauthorized",
        "Authentication required",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="riskscore"'},
    )


def to_problem(exc: Exception, request: Request[Any, Any, Any]) -> ApiProblem:
    """The problem that answers ``exc``; anything unexpected is a 500 without internals."""
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, InvalidScoreRequest):
        return ApiProblem(
            400,
            exc.type,
            exc.title,
            exc.message,
            errors=(FieldError(pointer="$.policy_number", detail=exc.message),),
        )
    if isinstance(exc, EvidenceError):
        return ApiProblem(422, exc.type, exc.title, str(exc), document=exc.document)
    if isinstance(exc, ModelUnavailable):
        return ApiProblem(
            503,
            "model-unavailable",
            "The model is unavailable",
            "the model did not answer; retry later",
            retry_after_s=exc.retry_after_s,
        )
    if isinstance(exc, AuditTrailError):
        return ApiProblem(
            503,
            "audit-trail-unavailable",
            "The prediction could not be recorded",
            "the audit journal refused the prediction, so no score is given; retry later",
            retry_after_s=1.0,
        )
    if isinstance(exc, ModelInputError | ModelClientError):
        return ApiProblem(
            500,
            "model-error",
            "The model refused the features",
            "the model and the running feature code disagree; the operators must deploy a "
            "matching model",
        )
    if isinstance(exc, RequestEntityTooLarge):
        handler = request.scope.get("route_handler")
        limit = (
            handler.resolve_request_max_body_size()
            if isinstance(handler, HTTPRouteHandler)
            else None
        )
        return too_large(limit or 0)
    if isinstance(exc, NotFoundException):
        return ApiProblem(
            404, "not-found", "Not found", f"no route for {request.method} {request.url.path}"
        )
    if isinstance(exc, MethodNotAllowedException):
        return ApiProblem(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"{request.method} is not allowed on {request.url.path}",
            headers=dict(exc.headers or {}),
        )
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return ApiProblem(
            exc.status_code, "http-error", "Request refused", exc.detail, headers=exc.headers
        )
    return ApiProblem(
        500,
        "internal-error",
        "Internal server error",
        "the server failed to answer; quote the request id when reporting it",
    )


def problem_handler(state: ApiState) -> Any:
    log = structlog.get_logger("riskscore.api")

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        problem = to_problem(exc, request)
        request_id = request.scope["state"].get(REQUEST_ID_KEY)
        if request_id is None:  # no route matched: the observer never saw this request
            request_id = observe_unrouted(
                request.scope, request.method, state.metrics, problem.status
            )
        if problem.status >= 500:
            log.error(
                "http.problem",
                problem=problem.slug,
                status=problem.status,
                error_type=type(exc).__name__,
            )
        state.metrics.failed(problem.slug)
        return Response(
            wire.encode(problem.problem(instance=request.url.path, request_id=request_id)),
            status_code=problem.status,
            media_type=PROBLEM_JSON,
            headers=problem.headers,
        )

    return handle


class ScoringApp(Litestar):
    """The Litestar app, with ``POST /v1/score`` served by ``ScoreHotPath`` first when it is set
    (hotpath.py: the same answers, less per-request machinery)."""

    hot_path: ScoreHotPath | None = None

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        hot = self.hot_path
        if hot is not None and hot.takes(scope):
            replay = await hot.serve(scope, receive, send)  # type: ignore[arg-type]
            if replay is None:
                return
            receive = replay
        await super().__call__(scope, receive, send)


def create_app(container: Container, *, hot_path: bool = True) -> Litestar:
    """The API over ``container``; resources start and stop with the app's lifespan. ``hot_path``
    serves ``POST /v1/score`` through ``ScoreHotPath`` (off when an API key is configured: the key
    is checked by Litestar's guard)."""
    settings = container.settings()
    bridge = ContainerBridge(container)
    state = ApiState(bridge, settings)

    async def startup() -> None:
        try:
            await bridge.startup()
        except Exception as exc:
            # e.g. another process owns the journal, the registry is unreadable: say which, briefly
            structlog.get_logger("riskscore.api").error(
                "api.startup_failed", error_type=type(exc).__name__, error=str(exc)
            )
            raise
        state.metrics.audit_stats = bridge.audit_trail().stats
        # Everything built so far (modules, the model, the container) lives as long as the process:
        # out of the collector's sight, a collection no longer walks it in the middle of a request.
        # Measured with an in-process ASGI driver: sequential p99 4.7 ms -> 1.3 ms (docs/benchmarks.md).
        gc.freeze()

    async def shutdown() -> None:
        await bridge.shutdown()  # the audit trail drains, then closes
        log = structlog.get_logger("riskscore.api")
        try:
            stats = bridge.audit_trail().stats()
        except Exception as exc:  # never started, or the trail cannot say: still a clean stop
            log.info("api.stopped", audit_stats_error=type(exc).__name__)
            return
        log.info(
            "api.stopped",
            audit_recorded=stats.recorded,
            audit_delivered=stats.delivered,
            audit_pending=stats.queue_depth,
        )

    handle_problem = problem_handler(state)
    app = ScoringApp(
        route_handlers=route_handlers(settings),
        dependencies={
            "api": Provide(state.provide, sync_to_thread=False, use_cache=True),
        },
        exception_handlers={Exception: handle_problem},
        middleware=[DefineMiddleware(RequestObserver, metrics=state.metrics)],
        on_startup=[startup],
        on_shutdown=[shutdown],
        request_max_body_size=settings.max_request_bytes,
        openapi_config=OpenAPIConfig(
            title="riskscore API",
            version=riskscore.__version__,
            description="Real-time underwriting risk scoring from MIB and Rx-history evidence.",
        ),
        # structlog is configured by the entrypoint; Litestar's own default would put the root
        # logger at INFO and print every httpx call of the model client.
        logging_config=None,
        debug=False,
    )
    if hot_path and not settings.api_key:
        app.hot_path = ScoreHotPath(state)
    return app
