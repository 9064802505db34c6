"""The two ASGI steps of the hot path, done directly: read the body, send pre-encoded JSON.

Measured on the in-process path (``bench/api.py``, and an ASGI driver without a network): Litestar's
``request.body()`` builds a ``Headers`` object to read ``Content-Length``, and ``Response`` builds
mutable headers on every answer; together with the rest they cost more than parsing both evidence
documents. ``read_body`` scans the raw headers once and enforces the route's size limit on what is
announced and on what arrives; ``JsonBytes`` is a bare ASGI app that Litestar passes through as is.
"""

from __future__ import annotations

from litestar.types import Receive, Scope, Send

from riskscore.adapters.http.api.problems import ApiProblem, too_large

_CONTENT_LENGTH = b"content-length"
_JSON_HEADERS = (b"content-type", b"application/json")


async def read_body(
    scope: Scope, receive: Receive, limit: int, chunks: list[bytes] | None = None
) -> bytes:
    """The whole request body; 413 as soon as it is known to exceed ``limit`` bytes. The chunks
    received go to ``chunks`` when one is given, so a caller can replay them after a refusal."""
    for name, value in scope["headers"]:
        if name == _CONTENT_LENGTH:
            if value.isdigit() and int(value) > limit:
                raise too_large(limit)
            break
    if chunks is None:
        chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)  # before the check: a replay must hold what was received
            if size > limit:
                raise too_large(limit)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ApiProblem(
                400, "incomplete-body", "Request body incomplete", "the client disconnected"
            )


class JsonBytes:
    """A 200 (or ``status``) answer whose JSON body is already encoded, with any extra headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, body: bytes, status: int = 200, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        self.body = body
        self.status = status
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    _JSON_HEADERS,
                    (b"content-length", str(len(self.body)).encode()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": False})
