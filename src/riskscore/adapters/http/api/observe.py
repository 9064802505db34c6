"""Per-request observation: request id, one log line, and the API's Prometheus series.

``RequestObserver`` is a plain ASGI middleware around every routed handler: it takes the request id
from ``X-Request-ID`` (or makes one), binds it to structlog's contextvars for every line logged
while the request runs, echoes it in the answer, and on completion logs one ``http.request`` line
(route template, method, status, latency) and counts the request. Requests that match no route never
reach a handler's middleware; the problem handler reports those (``observe_unrouted``).

Never logged: bodies, headers other than the request id, evidence content of any kind.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable, Sequence

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from riskscore.adapters.http.api.metrics import (
    Callback,
    Counter,
    Histogram,
    Labels,
    MetricsRegistry,
)
from riskscore.domain.usecases.score_policy import ScoreResult
from riskscore.ports.audit_trail import AuditStats

REQUEST_ID_KEY = "riskscore.request_id"
UNROUTED = "unmatched"
_REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class ApiMetrics:
    """The API's series. ``audit_stats`` and ``inflight`` are read at scrape time."""

    def __init__(self) -> None:
        self.registry = registry = MetricsRegistry()
        self.audit_stats: Callable[[], AuditStats] | None = None
        self.inflight: Callable[[], int] = lambda: 0
        self._audit: AuditStats | None = None
        self._model: Labels | None = None
        self._requests = registry.add(
            Counter(
                "riskscore_http_requests_total",
                "HTTP requests answered, by route template, method and status.",
                ("route", "method", "status"),
            )
        )
        self._latency = registry.add(
            Histogram(
                "riskscore_http_request_duration_seconds",
                "Time from the request reaching the route to the answer being sent.",
                ("route",),
            )
        )
        self._scores = registry.add(
            Counter(
                "riskscore_scores_total", "Applications scored, by risk class.", ("risk_class",)
            )
        )
        self._problems = registry.add(
            Counter(
                "riskscore_problems_total", "Problem answers (4xx/5xx), by problem type.", ("type",)
            )
        )
        self._row_errors = registry.add(
            Counter(
                "riskscore_row_errors_total",
                "Service-function rows answered with an error, by type.",
                ("type",),
            )
        )
        self._inference = registry.add(
            Histogram(
                "riskscore_model_inference_seconds", "Duration of model calls made by the API."
            )
        )
        registry.add(
            Callback(
                "riskscore_inflight_requests",
                "Scoring requests being processed.",
                lambda: {(): float(self.inflight())},
            )
        )
        registry.add(
            Callback(
                "riskscore_model_info",
                "The model that answered the latest score (value 1).",
                lambda: {} if self._model is None else {self._model: 1.0},
                ("model_name", "model_version"),
            )
        )
        audit = (
            ("riskscore_audit_queue_depth", "Audit entries not yet delivered.", "gauge"),
            ("riskscore_audit_lag_seconds", "Age of the oldest undelivered audit entry.", "gauge"),
            ("riskscore_audit_recorded_total", "Audit entries journaled.", "counter"),
            (
                "riskscore_audit_delivered_total",
                "Audit entries delivered to both stores.",
                "counter",
            ),
            ("riskscore_audit_failed_attempts_total", "Failed delivery attempts.", "counter"),
            ("riskscore_audit_dead_lettered_total", "Entries a store refused for good.", "counter"),
        )
        fields = (
            "queue_depth",
            "lag_s",
            "recorded",
            "delivered",
            "failed_attempts",
            "dead_lettered",
        )
        for (name, help_text, kind), field in zip(audit, fields, strict=True):
            registry.add(Callback(name, help_text, self._audit_reader(field), kind=kind))

    def _audit_reader(self, field: str) -> Callable[[], dict[Labels, float]]:
        def read() -> dict[Labels, float]:
            stats = self._audit
            return {} if stats is None else {(): float(getattr(stats, field))}

        return read

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._requests.inc((route, method, str(status)))
        self._latency.observe(seconds, (route,))

    def scored(self, results: Sequence[ScoreResult]) -> None:
        """Results of one model call (a single score or a batch)."""
        if not results:
            return
        for result in results:
            self._scores.inc((result.prediction.risk_class,))
        record = results[-1].prediction
        self._inference.observe(record.inference_ms / 1000.0)
        self._model = (record.model_name, record.model_version)

    def failed(self, slug: str) -> None:
        self._problems.inc((slug,))

    def row_failed(self, slug: str) -> None:
        self._row_errors.inc((slug,))

    def render(self) -> str:
        try:
            self._audit = None if self.audit_stats is None else self.audit_stats()
        except Exception:  # a scrape must answer even when the trail cannot say
            self._audit = None
        return self.registry.render()


class _RequestIds:
    """``<random process prefix>-<counter>``: unique across processes, and far cheaper per request
    than a UUID (no system call)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"


_new_request_id = _RequestIds().new


def request_id_of(scope: Scope) -> str:
    """The request's id: the one already given to it (the hot path hands a request on under its
    id), else the client's ``X-Request-ID`` when it is sane, else a new one."""
    known: str | None = scope.get("state", {}).get(REQUEST_ID_KEY)
    if known is not None:
        return known
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
            return value.decode("ascii")
    return _new_request_id()


class RequestLog:
    """One request's observation, for ``RequestObserver`` and the ``/v1/score`` hot path alike:
    ``begin`` gives it its id (kept in the scope, bound to every log line meanwhile), ``end`` counts
    it and writes its one ``http.request`` line."""

    def __init__(self, metrics: ApiMetrics) -> None:
        self.metrics = metrics
        # Bound once (the entrypoint configured structlog before building the app): the lazy proxy
        # would bind a new logger for every request line.
        self.log = structlog.get_logger("riskscore.api").bind()

    @staticmethod
    def begin(scope: Scope) -> str:
        request_id = request_id_of(scope)
        scope.setdefault("state", {})[REQUEST_ID_KEY] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        return request_id

    def end(self, route: str, method: str, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        self.metrics.observe_request(route, method, status, elapsed)
        self.log.info(
            "http.request", route=route, method=method, status=status, ms=round(elapsed * 1000.0, 3)
        )
        structlog.contextvars.unbind_contextvars("request_id")


class RequestObserver:
    """ASGI middleware: request id, one log line and the request metrics per routed request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.requests = RequestLog(metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self.requests.begin(scope)
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route: str = scope.get("path_template") or UNROUTED
            self.requests.end(route, scope["method"], status, started)


def observe_unrouted(scope: Scope, method: str, metrics: ApiMetrics, status: int) -> str:
    """Count and log a request no route matched (404/405); answers its new request id.
    Its latency is not measured (the observer never ran) and is counted as 0."""
    request_id = request_id_of(scope)
    metrics.observe_request(UNROUTED, method, status, 0.0)
    structlog.get_logger("riskscore.api").info(
        "http.request",
        route=UNROUTED,
        method=method,
        status=status,
        request_id=request_id,
    )
    return request_id
