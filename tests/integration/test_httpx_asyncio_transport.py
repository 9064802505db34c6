"""AsyncioHttp11Transport against real servers on 127.0.0.1.

The real model service (uvicorn + httptools) for interoperability, answer for answer against httpx's
stock transport; a small scripted asyncio server for what a well-behaved server rarely does: closing
kept-alive connections, partial, oversized, chunked, close-delimited and slow answers, and refused
connections. Every test runs client and server on one event loop, so nothing depends on timing
except the settle after a server-side close (to let the loop see the FIN) and the timeouts meant to
fire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from riskscore.adapters.http.model_server import create_model_server_app
from riskscore.adapters.http.model_uvicorn import BackgroundServer, bind_socket
from riskscore.adapters.httpx.asyncio_transport import AsyncioHttp11Transport, ResponseTooLarge
from riskscore.adapters.httpx.model_client import HttpxModelClient
from riskscore.adapters.treemodel.serving import ServingModel
from riskscore.container import build_container
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.schema import FeatureVector
from riskscore.ports.model_client import ModelUnavailable
from riskscore.ports.model_registry import ScoringModel
from riskscore.settings import load_settings

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok": 1}\r\n'
SETTLE_S = 0.05  # lets the event loop see a FIN the server sent
TIMEOUTS = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


class Seen:
    """One request as the scripted server read it."""

    def __init__(self, conn: int, head: list[bytes], body: bytes) -> None:
        self.conn = conn
        self.request_line = head[0]
        self.headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in head[1:])
        }
        self.body = body


Reply = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool]]
"""Writes the answer to one request; returns False to stop serving the connection (and close it)."""


def send(*chunks: bytes, close: bool = False) -> Reply:
    async def reply(_seen: Seen, writer: asyncio.StreamWriter) -> bool:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0)  # separate segments: the client must reassemble
        return not close

    return reply


def hang() -> Reply:
    async def reply(_seen: Seen, _writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(3600)
        return False

    return reply


class Scripted:
    """An HTTP/1.1 server on 127.0.0.1 that answers the n-th request with ``replies[n]``."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.seen: list[Seen] = []
        self.connections = 0
        self.closed = asyncio.Event()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Scripted:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n"))[:-4].split(b"\r\n")
                except asyncio.IncompleteReadError:
                    return
                seen = Seen(conn, head, b"")
                if seen.headers.get(b"transfer-encoding") == b"chunked":
                    seen.body = await read_chunked(reader)
                else:
                    seen.body = await reader.readexactly(
                        int(seen.headers.get(b"content-length", 0))
                    )
                self.seen.append(seen)
                reply = self.replies[min(len(self.seen), len(self.replies)) - 1]
                if not await reply(seen, writer):
                    return
        finally:
            writer.close()
            self.closed.set()


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")
    return body


async def request(
    transport: httpx.AsyncBaseTransport,
    url: str,
    *,
    method: str = "POST",
    body: bytes = b"{}",
    timeouts: dict[str, float] | None = None,
) -> httpx.Response:
    req = httpx.Request(
        method, url + "/x", content=body, extensions={"timeout": {**TIMEOUTS, **(timeouts or {})}}
    )
    response = await transport.handle_async_request(req)
    await response.aread()
    return response


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,  # what `riskscore serve` runs the API on
}
_loop_factory: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]


@pytest.fixture(autouse=True, params=sorted(LOOPS))
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs on both event loops: their transports differ (uvloop's are not asyncio's)."""
    _loop_factory[0] = LOOPS[request.param]
    yield str(request.param)
    _loop_factory[0] = asyncio.new_event_loop


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    with asyncio.Runner(loop_factory=_loop_factory[0]) as runner:
        return runner.run(scenario())  # type: ignore[arg-type]


def exchanges(*replies: Reply, methods: str = "POST POST") -> tuple[Scripted, list[httpx.Response]]:
    """Requests one after the other (bodies ``{"n": i}``) on one transport; the server, the answers."""

    async def scenario() -> tuple[Scripted, list[httpx.Response]]:
        async with Scripted(*replies) as server:
            transport = AsyncioHttp11Transport()
            answers = [
                await request(transport, server.url, method=method, body=b'{"n": %d}' % i)
                for i, method in enumerate(methods.split())
            ]
            await transport.aclose()
            return server, answers

    return run(scenario)  # type: ignore[no-any-return]


# --- the real model service ---------------------------------------------------------------------


class NoModels:
    def default_version(self, name: str = "") -> str | None:
        return None

    def load(self, name: str = "", version: str | None = None) -> ScoringModel:
        raise AssertionError("no model to load")


@pytest.fixture(scope="module")
def model_service() -> Iterator[str]:
    """The real model service without a model: it answers 503/404/400 with problem bodies."""
    serving = ServingModel(NoModels(), schema=SCHEMA)  # type: ignore[arg-type]
    with BackgroundServer(create_model_server_app(serving)) as running:
        yield running.base_url


def test_the_model_service_answers_the_same_through_either_transport(model_service: str) -> None:
    calls = [
        ("GET", "/health", b""),
        ("POST", "/predict-proba", b'{"data": [[0, 1.0]]}'),
        ("POST", "/predict-proba", b"not json"),
        ("GET", "/no-such-path", b""),
    ] * 3  # the same keep-alive connection, again and again

    async def through(transport: httpx.AsyncBaseTransport) -> list[tuple[int, str, Any]]:
        async with httpx.AsyncClient(transport=transport, base_url=model_service) as client:
            answers = []
            for method, path, body in calls:
                r = await client.request(method, path, content=body)
                answers.append((r.status_code, r.headers["content-type"], r.json()))
            return answers

    async def both() -> tuple[list[Any], list[Any]]:
        return await through(AsyncioHttp11Transport()), await through(httpx.AsyncHTTPTransport())

    ours, stock = run(both)
    assert ours == stock
    assert [status for status, _, _ in ours] == [503, 503, 503, 404] * 3
    assert ours[1][1] == "application/problem+json"
    assert ours[1][2]["detail"] == "no model is loaded"


def test_the_model_client_on_either_transport_maps_the_services_503(model_service: str) -> None:
    vector = FeatureVector(schema_version=SCHEMA.version, values=(0.0,) * len(SCHEMA))
    for kind in ("asyncio", "httpx"):
        client = HttpxModelClient(model_service, http_transport=kind)

        async def go(client: HttpxModelClient = client) -> None:
            try:
                await client.predict([vector])
            finally:
                await client.aclose()

        with pytest.raises(ModelUnavailable, match="no model is loaded"):
            run(go)


# --- keep-alive and closing ---------------------------------------------------------------------


def test_requests_reuse_one_kept_alive_connection_and_bodies_arrive_intact() -> None:
    server, answers = exchanges(send(OK), methods="POST " * 5)
    assert server.connections == 1
    assert [s.body for s in server.seen] == [b'{"n": %d}' % i for i in range(5)]
    assert server.seen[0].request_line == b"POST /x HTTP/1.1"
    assert server.seen[0].headers[b"content-length"] == b"8"
    assert all(a.status_code == 200 and a.json() == {"ok": 1} for a in answers)
    assert answers[0].http_version == "HTTP/1.1"
    assert answers[0].reason_phrase == "OK"


def test_an_idle_connection_the_server_closed_is_replaced_without_error() -> None:
    async def scenario() -> tuple[Scripted, httpx.Response]:
        async with Scripted(send(OK, close=True), send(OK)) as server:
            transport = AsyncioHttp11Transport()
            await request(transport, server.url)
            await server.closed.wait()
            await asyncio.sleep(SETTLE_S)
            second = await request(transport, server.url)
            await transport.aclose()
            return server, second

    server, second = run(scenario)
    assert second.status_code == 200
    assert server.connections == 2
    assert [s.conn for s in server.seen] == [1, 2]  # the request went out once, on the new one


def test_bytes_on_an_idle_connection_retire_it() -> None:
    """Some servers send a 408 on an idle connection before closing it."""
    late_408 = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"

    async def scenario() -> tuple[Scripted, httpx.Response]:
        async with Scripted(send(OK + late_408), send(OK)) as server:
            transport = AsyncioHttp11Transport()
            await request(transport, server.url)
            await asyncio.sleep(SETTLE_S)
            second = await request(transport, server.url)
            await transport.aclose()
            return server, second

    server, second = run(scenario)
    assert second.status_code == 200
    assert server.connections == 2


def test_a_request_the_server_dropped_unanswered_is_not_resent_by_the_transport() -> None:
    async def scenario() -> tuple[Scripted, BaseException | None]:
        async with Scripted(send(OK), send(close=True), send(OK)) as server:
            transport = AsyncioHttp11Transport()
            await request(transport, server.url)
            try:
                await request(transport, server.url)
            except httpx.HTTPError as exc:
                return server, exc
            finally:
                await transport.aclose()
            return server, None

    server, error = run(scenario)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert "unanswered" in str(error)
    assert len(server.seen) == 2  # sent once; whether to resend is the caller's call


def test_the_model_client_retries_a_dropped_request_on_a_new_connection() -> None:
    """HttpxModelClient's rule: a connection failure is retried (a prediction is pure)."""
    answer = json.dumps({"data": [[0, {"output_feature_1": 0.25}]]}).encode()
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)
    vector = FeatureVector(schema_version=SCHEMA.version, values=(1.0,))

    async def scenario() -> tuple[Scripted, float]:
        async with Scripted(send(ok), send(close=True), send(ok)) as server:
            client = HttpxModelClient(server.url, retries=1)
            await client.predict([vector])
            [prediction] = await client.predict([vector])
            await client.aclose()
            return server, prediction.probability

    server, probability = run(scenario)
    assert probability == 0.25
    assert [s.conn for s in server.seen] == [1, 1, 2]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["connection-close", "http-1.0"],
)
def test_an_answer_that_ends_the_connection_is_honoured(answer: bytes) -> None:
    server, answers = exchanges(send(answer))
    bodies = [a.content for a in answers]
    assert bodies == [b"ok", b"ok"]
    assert server.connections == 2


def test_connection_close_in_the_request_is_honoured() -> None:
    async def scenario() -> Scripted:
        async with Scripted(send(OK)) as server:
            transport = AsyncioHttp11Transport()
            for _ in range(2):
                req = httpx.Request("GET", server.url, headers={"Connection": "close"})
                await (await transport.handle_async_request(req)).aread()
            await transport.aclose()
            return server

    server = run(scenario)
    assert server.connections == 2
    assert server.seen[0].headers[b"connection"] == b"close"


def test_http_1_0_keep_alive_is_honoured() -> None:
    answer = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"

    server, _ = exchanges(send(answer), methods="GET GET GET")
    assert server.connections == 1


# --- answer framing -----------------------------------------------------------------------------


def test_a_chunked_answer_is_decoded() -> None:
    answer = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5;ext=1\r\nhello\r\n",
        b"1",
        b"\r\n \r\n",
        b"6\r\nworld!\r\n0\r\n",
        b"X-Trailer: 1\r\n\r\n",
    ]

    server, answers = exchanges(send(*answer))
    bodies = [a.content for a in answers]
    assert bodies == [b"hello world!"] * 2
    assert server.connections == 1


def test_a_close_delimited_answer_is_read_to_the_end() -> None:
    server, answers = exchanges(send(b"HTTP/1.1 200 OK\r\n\r\npart one, ", b"part two", close=True))
    bodies = [a.content for a in answers]
    assert bodies == [b"part one, part two"] * 2
    assert server.connections == 2


def test_informational_answers_are_skipped_and_bodiless_ones_have_no_body() -> None:
    continue_then_ok = send(b"HTTP/1.1 100 Continue\r\n\r\n", OK)
    no_content = send(b"HTTP/1.1 204 No Content\r\n\r\n")
    head = send(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n")

    server, responses = exchanges(
        continue_then_ok, no_content, head, send(OK), methods="POST POST HEAD POST"
    )
    answers = [(r.status_code, r.content) for r in responses]
    assert answers == [(200, b'{"ok": 1}\r\n'), (204, b""), (200, b""), (200, b'{"ok": 1}\r\n')]
    assert server.connections == 1


def test_a_streamed_request_body_goes_out_chunked() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"a": '
        yield b"1}"

    async def scenario() -> Scripted:
        async with Scripted(send(OK)) as server:
            transport = AsyncioHttp11Transport()
            req = httpx.Request("POST", server.url, content=body())
            await (await transport.handle_async_request(req)).aread()
            await transport.aclose()
            return server

    [seen] = run(scenario).seen
    assert seen.headers[b"transfer-encoding"] == b"chunked"
    assert seen.body == b'{"a": 1}'


# --- failures -----------------------------------------------------------------------------------


def failure(
    *replies: Reply,
    transport: AsyncioHttp11Transport | None = None,
    timeouts: dict[str, float] | None = None,
) -> Any:
    """The exception the second request raises (the first is a normal answer on the same server)."""

    async def scenario() -> tuple[Scripted, BaseException]:
        async with Scripted(send(OK), *replies, send(OK)) as server:
            client = transport or AsyncioHttp11Transport()
            await request(client, server.url)
            try:
                await request(client, server.url, timeouts=timeouts)
            except Exception as exc:
                # The connection that failed is never reused: the next request opens another.
                await request(client, server.url)
                await client.aclose()
                assert server.connections == 2
                return server, exc
            raise AssertionError("the request did not fail")

    return run(scenario)[1]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", close=True),
            "mid-answer",
        ),
        (send(b"HTTP/1.1 200 OK\r\nContent-Le", close=True), "mid-answer"),
        (send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", close=True), "mid"),
        (send(b"SSH-2.0-OpenSSH\r\n\r\n"), "status line"),
        (send(b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"), "Content-Length"),
        (send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"), "Length"),
        (send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), "Transfer-Encoding"),
        (send(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"), "header line"),
        (send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), "chunk size"),
        (send(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"), "101"),
    ],
    ids=[
        "short-body",
        "short-head",
        "short-chunk",
        "not-http",
        "bad-length",
        "two-lengths",
        "unknown-coding",
        "bad-header",
        "bad-chunk-size",
        "upgrade",
    ],
)
def test_a_broken_answer_is_a_protocol_error(reply: Reply, message: str) -> None:
    error = failure(reply)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert message in str(error)
    assert error.request.url.path == "/x"


@pytest.mark.parametrize(
    "reply",
    [
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n"),
        send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"400\r\n" + b"x" * 1024),
        send(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 1500),
        send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 600 + b"\r\n\r\n"),
        send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 600),
    ],
    ids=["content-length", "chunked", "until-close", "head", "endless-head"],
)
def test_an_oversized_answer_is_refused(reply: Reply) -> None:
    small = AsyncioHttp11Transport(max_response_bytes=1000, max_head_bytes=512)
    error = failure(reply, transport=small)
    assert isinstance(error, ResponseTooLarge)
    assert not isinstance(error, httpx.NetworkError | httpx.RemoteProtocolError)  # not retried


def test_a_slow_answer_is_a_read_timeout() -> None:
    error = failure(hang(), timeouts={"read": 0.1})
    assert isinstance(error, httpx.ReadTimeout)


def test_a_refused_connection_is_a_connect_error() -> None:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()

    async def scenario() -> None:
        await request(AsyncioHttp11Transport(), f"http://127.0.0.1:{port}")

    with pytest.raises(httpx.ConnectError):
        run(scenario)


def test_a_cancelled_request_does_not_leave_its_connection_in_the_pool() -> None:
    async def scenario() -> tuple[Scripted, httpx.Response]:
        async with Scripted(hang(), send(OK)) as server:
            transport = AsyncioHttp11Transport()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await request(transport, server.url)
            answer = await request(transport, server.url)
            await transport.aclose()
            return server, answer

    server, answer = run(scenario)
    assert answer.status_code == 200
    assert server.connections == 2


# --- the pool -----------------------------------------------------------------------------------


def test_concurrent_requests_share_a_bounded_pool() -> None:
    async def scenario() -> tuple[Scripted, list[int]]:
        async with Scripted(send(OK)) as server:
            transport = AsyncioHttp11Transport(max_connections=2)
            answers = await asyncio.gather(*(request(transport, server.url) for _ in range(10)))
            await transport.aclose()
            return server, [a.status_code for a in answers]

    server, statuses = run(scenario)
    assert statuses == [200] * 10
    assert server.connections == 2
    assert len(server.seen) == 10


def test_waiting_for_a_connection_is_bounded_by_the_pool_timeout() -> None:
    async def scenario() -> BaseException:
        async with Scripted(hang()) as server:
            transport = AsyncioHttp11Transport(max_connections=1)
            busy = asyncio.create_task(request(transport, server.url))
            await asyncio.sleep(SETTLE_S)
            try:
                await request(transport, server.url, timeouts={"pool": 0.05})
            except httpx.HTTPError as exc:
                return exc
            finally:
                busy.cancel()
                await transport.aclose()
            raise AssertionError("no pool timeout")

    assert isinstance(run(scenario), httpx.PoolTimeout)


def test_a_closed_transport_refuses_requests_and_closes_its_connections() -> None:
    async def scenario() -> Scripted:
        async with Scripted(send(OK)) as server:
            transport = AsyncioHttp11Transport()
            await request(transport, server.url)
            await transport.aclose()
            await asyncio.wait_for(server.closed.wait(), 5)  # the idle connection was closed
            with pytest.raises(httpx.ConnectError, match="closed"):
                await request(transport, server.url)
            return server

    assert len(run(scenario).seen) == 1


# --- what it will not do ------------------------------------------------------------------------


def test_https_is_refused_with_a_clear_error() -> None:
    async def scenario() -> None:
        await request(AsyncioHttp11Transport(), "https://127.0.0.1:1")

    with pytest.raises(httpx.UnsupportedProtocol, match="stock transport"):
        run(scenario)


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    async def scenario() -> Scripted:
        async with Scripted(send(OK)) as server:
            transport = AsyncioHttp11Transport()
            req = httpx.Request("GET", server.url, headers={"X-Evil": "a\r\nInjected: 1"})
            with pytest.raises(httpx.LocalProtocolError) as caught:
                await transport.handle_async_request(req)
            assert caught.value.request is req
            await transport.aclose()
            return server

    server = run(scenario)
    assert server.connections == 0


def test_rejects_a_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        AsyncioHttp11Transport(max_connections=0)


# --- choosing the transport ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({}, "UnsupportedProtocol"),
        ({"RISKSCORE_MODEL_HTTP_TRANSPORT": "asyncio"}, "UnsupportedProtocol"),
        ({"RISKSCORE_MODEL_HTTP_TRANSPORT": "httpx"}, "connection failed"),  # it tries TLS
    ],
    ids=["default", "asyncio", "httpx"],
)
def test_the_setting_picks_the_transport(tmp_path: Path, env: dict[str, str], error: str) -> None:
    sock = bind_socket("127.0.0.1", 0)  # bound, never listening: connections are refused
    port = sock.getsockname()[1]
    sock.close()
    settings = load_settings(
        {
            "RISKSCORE_DATA_DIR": str(tmp_path),
            "RISKSCORE_MODEL_CLIENT": "http",
            "RISKSCORE_MODEL_URL": f"https://127.0.0.1:{port}",
            **env,
        }
    )
    client = build_container(settings).model_client_impl()
    vector = FeatureVector(schema_version=SCHEMA.version, values=(0.0,))

    async def go() -> None:
        try:
            await client.predict([vector])
        finally:
            await client.aclose()

    with pytest.raises(ModelUnavailable, match=error):
        run(go)


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="model_http_transport"):
        load_settings({"RISKSCORE_MODEL_HTTP_TRANSPORT": "curl"})
    with pytest.raises(ValueError, match="http_transport"):
        HttpxModelClient("http://127.0.0.1:1", http_transport="curl")  # type: ignore[arg-type]
