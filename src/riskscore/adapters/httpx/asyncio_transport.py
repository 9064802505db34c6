"""``AsyncioHttp11Transport``: an ``httpx.AsyncBaseTransport`` that speaks plain HTTP/1.1 on asyncio.

Why it exists: with the API and the model service on one CPU, ``httpx.AsyncClient.post`` of a 1-row
``/predict-proba`` body cost about 1.4 ms against 0.34 ms for the same bytes over a raw asyncio socket
(``python -m bench.model_call``). cProfile of that loop put roughly two thirds of httpx's time in its
stock transport (httpcore's pool and connection, h11's event machinery, anyio's cancel scopes and
stream wrappers around every read and write) and the rest in ``AsyncClient.send`` (auth and redirect
generators, cookie extraction, URL merging, response stream wrappers). This transport replaces the
first part; ``HttpxModelClient`` skips the second by calling ``handle_async_request`` with a prebuilt
``httpx.Request``. httpx's types stay the interface: requests in, ``httpx.Response`` out, httpx's
exception classes on failure, so ``httpx.AsyncClient(transport=AsyncioHttp11Transport())`` works too.

What it speaks (just what the model service needs):
- ``http://`` origins only (``https://`` raises ``httpx.UnsupportedProtocol``: use httpx's stock
  transport for TLS). A small pool of keep-alive connections per origin, one ``asyncio.Protocol``
  each, at most ``max_connections`` per origin; a caller waits for a free one up to the request's
  ``pool`` timeout (``httpx.PoolTimeout``). Idle connections are reused newest first and dropped after
  ``keepalive_expiry`` seconds idle.
- Request bodies are sent whole in one write, framed as the request's headers say (httpx sets
  ``Content-Length`` for byte bodies; a streamed body of unknown length goes out as one chunk).
- Responses are read whole before ``handle_async_request`` returns (no streaming: model answers are
  small); ``max_response_bytes`` bounds the body and ``max_head_bytes`` the status line and headers
  (``ResponseTooLarge``, not retried). Bodies framed by ``Content-Length``, by chunked transfer
  coding (decoded; trailers skipped) or by the server closing the connection. 1xx answers are skipped.
- ``Connection: close`` in the request or the answer, an HTTP/1.0 answer without keep-alive, or a
  close-delimited body: the connection is not reused. Anything the server sends on an idle
  connection (some servers send a 408 before closing) retires it.
- Timeouts from the request's ``timeout`` extension (what httpx sets): ``connect`` for the TCP
  connect (``httpx.ConnectTimeout``), ``pool`` for the wait for a connection, and ``read`` from the
  moment the request is written until the whole answer is in (``httpx.ReadTimeout``, or
  ``httpx.WriteTimeout`` when the request itself had not left the socket buffer). Writes do not
  block (asyncio buffers them), so there is no separate write phase; a read timeout here bounds the
  whole answer, where httpx's bounds each socket read.
- A connection that fails or is cancelled mid-exchange is closed, never reused.

Failures and retries: an idle connection the server has closed (its FIN already seen by the event
loop) is discarded before use, and the request goes out on another or a new one: nothing was sent.
When the server closes a reused connection after the request was written and before any answer, the
transport cannot know whether the server acted on it, so it does not resend: it raises
``httpx.RemoteProtocolError`` and the caller decides (``HttpxModelClient`` retries connection
failures because a prediction is a pure function). Connection refused or reset: ``httpx.ConnectError``
or ``httpx.ReadError``. A malformed answer: ``httpx.RemoteProtocolError``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Final, NamedTuple, cast

import httpx

_HEAD_END: Final = b"\r\n\r\n"
_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS: Final = re.compile(rb"[0-9]{1,18}")
_MAX_CHUNK_LINE: Final = 4096

# Body framing of the answer being read.
_LENGTH, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2
# Chunked decoder states.
_SIZE, _DATA, _TRAILER = 0, 1, 2


class ResponseTooLarge(httpx.TransportError):
    """The answer's head or body exceeds the transport's limits (not a connection failure)."""


class _NotSent(Exception):
    """The connection was found closed before the request was written: safe to send elsewhere."""


class _Answer(NamedTuple):
    status: int
    reason: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time, the answer parsed as bytes arrive."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_head: int, max_body: int) -> None:
        self._loop = loop
        self._max_head = max_head
        self._max_body = max_body
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[_Answer] | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # where the search for the end of the head resumes
        self._head_done = False
        self._status = 0
        self._reason = b""
        self._version = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._keep_alive = True
        self._framing = _LENGTH
        self._length = 0
        self._no_body = False
        self._pos = 0  # chunked decoding cursor into _buf
        self._chunk_state = _SIZE
        self._chunk_left = 0
        self._body = bytearray()

    # asyncio.Protocol callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's TCPTransport has the methods but is no asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # unsolicited bytes on an idle connection: its state is unknown
            return
        self._buf += data
        try:
            answer = self._advance()
        except httpx.TransportError as exc:
            self._fail(exc)
            self.close()
            return
        if answer is not None:
            self._waiter.set_result(answer)

    def eof_received(self) -> bool:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            if self._head_done and self._framing == _UNTIL_CLOSE:
                self._keep_alive = False
                self._waiter.set_result(self._answer(bytes(self._buf)))
            elif self._buf:
                self._fail(httpx.RemoteProtocolError("server closed the connection mid-answer"))
            else:
                self._fail(httpx.RemoteProtocolError("server closed the connection unanswered"))
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            if exc is None:
                self._fail(httpx.RemoteProtocolError("connection closed during the exchange"))
            else:
                self._fail(httpx.ReadError(f"connection lost: {type(exc).__name__}: {exc}"))

    # one exchange --------------------------------------------------------------------------------

    async def exchange(self, data: bytes, *, no_body: bool, read_timeout: float | None) -> _Answer:
        transport = self._transport
        if self.closed or transport is None or transport.is_closing():
            raise _NotSent
        self._reset()
        self._no_body = no_body
        waiter: asyncio.Future[_Answer] = self._loop.create_future()
        self._waiter = waiter
        timer = (
            None
            if read_timeout is None
            else self._loop.call_later(read_timeout, self._timed_out, read_timeout)
        )
        try:
            transport.write(data)
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None
            self.idle_since = time.monotonic()

    def _timed_out(self, seconds: float) -> None:
        transport = self._transport
        if transport is not None and transport.get_write_buffer_size() > 0:
            self._fail(httpx.WriteTimeout(f"request not sent within {seconds:g} s"))
        else:
            self._fail(httpx.ReadTimeout(f"no complete answer within {seconds:g} s"))
        self.close()

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def usable(self, now: float, expiry: float) -> bool:
        return (
            not self.closed
            and self._transport is not None
            and not self._transport.is_closing()
            and now - self.idle_since < expiry
        )

    # parsing -------------------------------------------------------------------------------------

    def _advance(self) -> _Answer | None:
        while not self._head_done:
            if not self._parse_head():
                return None
        if self._framing == _LENGTH:
            if len(self._buf) < self._length:
                return None
            if len(self._buf) > self._length:
                self._keep_alive = False  # bytes after the answer: nothing was pipelined
            return self._answer(bytes(self._buf[: self._length]))
        if self._framing == _CHUNKED:
            return self._answer(bytes(self._body)) if self._decode_chunks() else None
        if len(self._buf) > self._max_body:
            raise ResponseTooLarge(f"answer body over {self._max_body} bytes")
        return None  # until close

    def _parse_head(self) -> bool:
        """Parse the head once it is complete; False while more bytes are needed."""
        end = self._buf.find(_HEAD_END, self._scan)
        if end < 0:
            if len(self._buf) > self._max_head:
                raise ResponseTooLarge(f"answer head over {self._max_head} bytes")
            self._scan = max(0, len(self._buf) - 3)
            return False
        if end > self._max_head:
            raise ResponseTooLarge(f"answer head over {self._max_head} bytes")
        lines = bytes(self._buf[:end]).split(b"\r\n")
        del self._buf[: end + 4]
        self._scan = 0
        status_line = lines[0].split(b" ", 2)
        if (
            len(status_line) < 2
            or not status_line[0].startswith(b"HTTP/1.")
            or len(status_line[1]) != 3
            or not status_line[1].isdigit()
        ):
            raise httpx.RemoteProtocolError("malformed status line in the answer")
        status = int(status_line[1])
        version = status_line[0]
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        connection = b""
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name[-1:] in b" \t" or line[:1] in b" \t":
                raise httpx.RemoteProtocolError("malformed header line in the answer")
            value = value.strip(b" \t")
            headers.append((name, value))
            lowered = name.lower()
            if lowered == b"content-length":
                if not _DIGITS.fullmatch(value) or (length is not None and int(value) != length):
                    raise httpx.RemoteProtocolError("invalid Content-Length in the answer")
                length = int(value)
            elif lowered == b"transfer-encoding":
                codings = [c.strip().lower() for c in value.split(b",")]
                if codings != [b"chunked"]:
                    raise httpx.RemoteProtocolError(
                        f"unsupported Transfer-Encoding {value.decode('latin-1')!r} in the answer"
                    )
                chunked = True
            elif lowered == b"connection":
                connection += b"," + value.lower()
        if 100 <= status < 200:
            if status == 101:
                raise httpx.RemoteProtocolError("unexpected protocol switch (101) in the answer")
            return True  # informational: the real answer follows
        tokens = {t.strip() for t in connection.split(b",")}
        keep_alive = b"keep-alive" in tokens if version == b"HTTP/1.0" else b"close" not in tokens
        self._head_done = True
        self._status = status
        self._reason = status_line[2] if len(status_line) > 2 else b""
        self._version = version
        self._headers = headers
        self._keep_alive = keep_alive
        if self._no_body or status in (204, 304):
            self._framing, self._length = _LENGTH, 0
        elif chunked:
            self._framing = _CHUNKED
        elif length is not None:
            if length > self._max_body:
                raise ResponseTooLarge(f"answer body of {length} bytes over {self._max_body}")
            self._framing, self._length = _LENGTH, length
        else:
            self._framing = _UNTIL_CLOSE
            self._keep_alive = False
        return True

    def _decode_chunks(self) -> bool:
        """Move complete chunks from ``_buf`` to ``_body``; True once the last chunk is in."""
        buf, pos = self._buf, self._pos
        try:
            while True:
                if self._chunk_state == _DATA:
                    size = self._chunk_left
                    if len(buf) - pos < size + 2:
                        return False
                    if buf[pos + size : pos + size + 2] != b"\r\n":
                        raise httpx.RemoteProtocolError("malformed chunk in the answer")
                    self._body += buf[pos : pos + size]
                    pos += size + 2
                    self._chunk_state = _SIZE
                    continue
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if len(buf) - pos > _MAX_CHUNK_LINE:
                        raise httpx.RemoteProtocolError("chunk line too long in the answer")
                    return False
                line = bytes(buf[pos:end])
                pos = end + 2
                if self._chunk_state == _TRAILER:
                    if not line:
                        if pos < len(buf):
                            self._keep_alive = False
                        return True
                    continue  # a trailer field: skipped
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size_text):
                    raise httpx.RemoteProtocolError("malformed chunk size in the answer")
                size = int(size_text, 16)
                if size == 0:
                    self._chunk_state = _TRAILER
                elif len(self._body) + size > self._max_body:
                    raise ResponseTooLarge(f"answer body over {self._max_body} bytes")
                else:
                    self._chunk_left = size
                    self._chunk_state = _DATA
        finally:
            self._pos = pos

    def _answer(self, body: bytes) -> _Answer:
        return _Answer(
            self._status, self._reason, self._version, self._headers, body, self._keep_alive
        )


class _Pool:
    """Connections to one origin: idle ones (newest last), how many exist, callers waiting."""

    __slots__ = ("idle", "total", "waiters")

    def __init__(self) -> None:
        self.idle: list[_Connection] = []
        self.total = 0
        # A waiter gets a connection to use, or None: "a slot is yours, open a connection".
        self.waiters: list[asyncio.Future[_Connection | None]] = []


class AsyncioHttp11Transport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 to ``http://`` origins on asyncio Protocols (see the module docstring)."""

    def __init__(
        self,
        *,
        max_connections: int = 64,
        keepalive_expiry: float = 30.0,
        max_response_bytes: int = 64 * 1024 * 1024,
        max_head_bytes: int = 64 * 1024,
    ) -> None:
        if max_connections < 1 or keepalive_expiry <= 0:
            raise ValueError("max_connections must be >= 1 and keepalive_expiry positive")
        if max_response_bytes < 0 or max_head_bytes < 16:
            raise ValueError("max_response_bytes must be >= 0 and max_head_bytes >= 16")
        self._max_connections = max_connections
        self._expiry = keepalive_expiry
        self._max_body = max_response_bytes
        self._max_head = max_head_bytes
        self._pools: dict[tuple[bytes, int], _Pool] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(
                f"AsyncioHttp11Transport speaks http:// only, not {url.scheme}://; "
                "use httpx's stock transport",
                request=request,
            )
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        try:
            data = _encode(request, await _body(request))
            answer = await self._exchange(
                (url.raw_host, url.port or 80),
                data,
                timeouts,
                no_body=request.method == "HEAD",
                close_after=_wants_close(request),
            )
        except httpx.TransportError as exc:
            exc.request = request
            raise
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=httpx.ByteStream(answer.body),  # content= would decode it here, at 10 us
            extensions={"http_version": answer.version, "reason_phrase": answer.reason},
            request=request,
        )

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            for conn in pool.idle:
                conn.close()
            pool.idle.clear()
            for waiter in pool.waiters:
                if not waiter.done():
                    waiter.set_exception(httpx.ConnectError("the transport was closed"))
            pool.waiters.clear()

    async def _exchange(
        self,
        key: tuple[bytes, int],
        data: bytes,
        timeouts: Mapping[str, float | None],
        *,
        no_body: bool,
        close_after: bool,
    ) -> _Answer:
        read_timeout = timeouts.get("read")
        conn = await self._acquire(key, timeouts)
        try:
            answer = await conn.exchange(data, no_body=no_body, read_timeout=read_timeout)
        except _NotSent:
            # The server closed it between the pool check and now: once more, on a new one.
            conn.close()  # its slot goes to the new connection
            conn = await self._connect_in_slot(key, timeouts)
            try:
                answer = await conn.exchange(data, no_body=no_body, read_timeout=read_timeout)
            except BaseException as exc:
                self._retire(key, conn)
                if isinstance(exc, _NotSent):
                    raise httpx.RemoteProtocolError("a new connection closed at once") from exc
                raise
        except BaseException:
            self._retire(key, conn)  # failed or cancelled mid-exchange: its state is unknown
            raise
        self._release(key, conn, reusable=answer.keep_alive and not close_after)
        return answer

    # the pool ------------------------------------------------------------------------------------

    async def _acquire(
        self, key: tuple[bytes, int], timeouts: Mapping[str, float | None]
    ) -> _Connection:
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool()
        now = time.monotonic()
        while pool.idle:
            conn = pool.idle.pop()
            if conn.usable(now, self._expiry):
                return conn
            conn.close()
            pool.total -= 1
        if pool.total < self._max_connections:
            pool.total += 1
            return await self._connect_in_slot(key, timeouts)
        waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
        pool.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                handed = await waiter
        except BaseException as exc:
            if waiter in pool.waiters:
                pool.waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._give_back(key, waiter.result())  # handed over as we were cancelled
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("no free connection to the model service in time") from exc
            raise
        if handed is not None and handed.usable(time.monotonic(), self._expiry):
            return handed
        if handed is not None:
            handed.close()
        return await self._connect_in_slot(key, timeouts)

    async def _connect_in_slot(
        self, key: tuple[bytes, int], timeouts: Mapping[str, float | None]
    ) -> _Connection:
        """Open a connection in a slot already counted in ``pool.total``; free the slot on failure."""
        loop = asyncio.get_running_loop()
        conn = _Connection(loop, self._max_head, self._max_body)
        host = key[0].decode("ascii")
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                await loop.create_connection(lambda: conn, host, key[1])
        except BaseException as exc:
            self._give_back(key, None)
            if isinstance(exc, TimeoutError):
                raise httpx.ConnectTimeout(f"connect to {host}:{key[1]} timed out") from exc
            if isinstance(exc, OSError):
                raise httpx.ConnectError(f"connect to {host}:{key[1]} failed: {exc}") from exc
            raise
        return conn

    def _release(self, key: tuple[bytes, int], conn: _Connection, *, reusable: bool) -> None:
        if reusable and not self._closed and not conn.closed:
            self._give_back(key, conn)
        else:
            self._retire(key, conn)

    def _retire(self, key: tuple[bytes, int], conn: _Connection) -> None:
        conn.close()
        self._give_back(key, None)

    def _give_back(self, key: tuple[bytes, int], conn: _Connection | None) -> None:
        """Hand ``conn`` (or, for None, its slot) to the first waiter, else keep it idle / free it."""
        pool = self._pools[key]
        while pool.waiters:
            waiter = pool.waiters.pop(0)
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is None:
            pool.total -= 1
        elif self._closed:
            conn.close()
            pool.total -= 1
        else:
            pool.idle.append(conn)


async def _body(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        return await request.aread()


def _encode(request: httpx.Request, body: bytes) -> bytes:
    """Request line, headers and body as the bytes to write."""
    fields = request.headers.raw
    parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in fields:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    # One line per field, no stray CR, LF or NUL in a name, value or target (header injection).
    lines = len(fields) + 2
    if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\x00" in head:
        raise httpx.LocalProtocolError("a request header or target contains CR, LF or NUL")
    parts = [head]
    te = request.headers.get("Transfer-Encoding")
    chunked = te is not None and te.lower() == "chunked"
    if chunked:
        if body:
            parts += (b"%x\r\n" % len(body), body, b"\r\n")
        parts.append(b"0\r\n\r\n")
    else:
        parts.append(body)
    return b"".join(parts)


def _wants_close(request: httpx.Request) -> bool:
    value = request.headers.get("Connection")
    return value is not None and "close" in value.lower()
