"""``POST /v1/score`` answered without Litestar's per-request machinery when all goes well.

Why: in an in-process ASGI driver (no network) Litestar's routing, its two exception middlewares,
the route-level observer and ``HTTPRoute.handle`` (a ``Request``, the kwargs model, dependency
resolution, response handling) cost 150-200 us of CPU per request, a fifth of what the API spends on
a whole score, which is what kept it under 2,000 scores/s on this benchmark's 2 cores
(docs/benchmarks.md). The hot path does only what the successful answer needs.

What it does, and why it answers exactly as the Litestar route would:
- It takes ``POST /v1/score`` only (exact path), and only when no API key is configured (the key
  guard stays Litestar's). Everything else goes to the Litestar app untouched.
- Success: read the body (same limit), decode, score, record, answer with the same bytes and headers
  (``content-type``, ``content-length``, ``x-request-id``), and observe the request through
  ``RequestLog``, as ``RequestObserver`` does (the same request id rules, metrics and log line).
- Anything else is handed to the Litestar app before a byte of the answer is sent, and Litestar
  answers it as it always has (problem+json from the same exception handlers, the same log lines and
  metrics, the same request id). A body over the limit or a client that went away: the request goes
  to Litestar with the body read so far replayed, and Litestar reads it again. A failure while
  scoring (bad JSON, bad evidence, no model, overload, an audit-trail refusal, any exception): the
  exception travels in the scope (``HOT_PATH_FAILURE``) and the Litestar handler raises it first
  thing, so nothing runs twice (no second model call). Nothing is recorded before such a failure:
  ``ScorePolicy.score`` records last, and only a score.
- ``create_app(container, hot_path=False)`` turns it off; tests/unit/test_api.py runs every API
  test both ways.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog
from litestar.types import HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from riskscore.adapters.http.api import wire
from riskscore.adapters.http.api.asgi import JsonBytes, read_body
from riskscore.adapters.http.api.observe import RequestLog
from riskscore.adapters.http.api.problems import ApiProblem

if TYPE_CHECKING:
    from riskscore.adapters.http.api.app import ApiState

SCORE_PATH = "/v1/score"
HOT_PATH_FAILURE = "riskscore.hot_path_failure"
"""Scope state key: the exception the hot path met, for the Litestar handler to raise."""


class ScoreHotPath:
    """``await hot.serve(scope, receive, send)``: ``None`` when it answered, else the ``receive`` to
    hand the request to Litestar with (the body it read, replayed, then the rest of the stream)."""

    def __init__(self, state: ApiState) -> None:
        self._state = state
        self._requests = RequestLog(state.metrics)

    @staticmethod
    def takes(scope: Mapping[str, Any]) -> bool:
        """``POST /v1/score`` (any ASGI scope may be asked, lifespan included)."""
        return (
            scope["type"] == "http"
            and scope.get("path") == SCORE_PATH
            and scope["method"] == "POST"
        )

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        api = self._state
        started = time.perf_counter()
        request_id = self._requests.begin(scope)
        chunks: list[bytes] = []
        try:
            body = await read_body(scope, receive, api.max_request_bytes, chunks)
        except ApiProblem:  # too large, or the client went away: Litestar reads it again
            structlog.contextvars.unbind_contextvars("request_id")
            return _replay(chunks, receive, finished=False)
        try:
            with api:
                result = await api.score_policy.score(wire.decode_score(body))
            answer = wire.encode(wire.answer(result))
        except Exception as exc:  # Litestar answers it (and logs what it logs) as it always has
            structlog.contextvars.unbind_contextvars("request_id")
            scope["state"][HOT_PATH_FAILURE] = exc
            return _replay([body], receive, finished=True)
        api.metrics.scored((result,))
        await JsonBytes(answer, headers=((b"x-request-id", request_id.encode("ascii")),))(
            scope, receive, send
        )
        self._requests.end(SCORE_PATH, "POST", 200, started)
        return None


def _replay(chunks: list[bytes], receive: Receive, *, finished: bool) -> Receive:
    """A ``receive`` giving ``chunks`` again, then whatever ``receive`` still has."""
    pending = list(chunks)

    async def again() -> ReceiveMessage:
        if pending:
            body = pending.pop(0)
            message: HTTPRequestEvent = {
                "type": "http.request",
                "body": body,
                "more_body": bool(pending) or not finished,
            }
            return message
        return await receive()

    return again
