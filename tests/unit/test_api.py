"""The scoring API's handlers, through Litestar's test client, over a container whose adapters are
overridden with fakes (no model registry, no journal, no XML library).

Every test runs twice: with ``POST /v1/score``'s hot path (hotpath.py, the default) and without it
(Litestar's route alone); the two must answer alike."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import msgspec
import pytest
import structlog
from litestar.testing import TestClient
from scoring_fakes import FakeModelClient, FakeParser, RecordingAuditTrail, fake_extract

from riskscore.adapters.http.api import app as api_app
from riskscore.adapters.memory.clock import ManualClock
from riskscore.container import Container, build_container
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import ModelPrediction
from riskscore.settings import load_settings

NOW = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
PROBLEM = "application/problem+json"
GOOD = {"policy_number": "TEST-001", "mib_xml": "<hit/>", "rx_xml": "<fill/>"}


class Fakes:
    def __init__(self) -> None:
        self.model = FakeModelClient()
        self.audit = RecordingAuditTrail()


def fake_container(fakes: Fakes, **settings: object) -> Container:
    container = build_container(load_settings({}, **settings))
    container.parser.override(FakeParser())
    container.extract.override(fake_extract)
    container.clock.override(ManualClock(NOW, tick_s=0.0001))
    container.model_client.override(fakes.model)
    container.audit_trail.override(fakes.audit)
    return container


HOT_PATH = [True]


def create_app(container: Container) -> Any:
    return api_app.create_app(container, hot_path=HOT_PATH[0])


@pytest.fixture(autouse=True, params=[True, False], ids=["hot-path", "litestar-route"])
def hot_path(request: pytest.FixtureRequest) -> Iterator[bool]:
    HOT_PATH[0] = request.param
    yield request.param
    HOT_PATH[0] = True


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def client(fakes: Fakes) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(fake_container(fakes, max_request_bytes=4096))) as test_client:
        yield test_client


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:riskscore:problem:{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["instance"]
    assert body["request_id"]
    return body


def test_score_answers_the_documented_fields_and_records_first(
    client: TestClient[Any], fakes: Fakes
) -> None:
    response = client.post("/v1/score", json=GOOD)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    for field in (
        "prediction_id",
        "policy_number",
        "risk_score",
        "risk_class",
        "model_name",
        "model_version",
        "reason_codes",
        "feature_schema_version",
        "inference_ms",
        "total_ms",
    ):
        assert field in body
    assert body["policy_number"] == "TEST-001"
    assert body["risk_score"] == pytest.approx(0.12)
    assert body["risk_class"] == "standard"
    assert (body["model_name"], body["model_version"]) == ("EVIDENCE_RISK_MODEL", "V1")
    assert body["reason_codes"][0] == {
        "feature": "mib_code_count",
        "contribution": 0.1,
        "value": 1.0,
    }
    assert body["as_of"] == NOW.date().isoformat()
    assert [e.prediction.prediction_id for e in fakes.audit.entries] == [body["prediction_id"]]
    assert fakes.audit.entries[0].prediction.source == "api"


def test_as_of_is_taken_from_the_body(client: TestClient[Any], fakes: Fakes) -> None:
    response = client.post("/v1/score", json={**GOOD, "as_of": "2021-06-30"})
    assert response.json()["as_of"] == "2021-06-30"
    assert fakes.audit.entries[0].prediction.as_of == dt.date(2021, 6, 30)


def test_request_id_is_echoed_or_made(client: TestClient[Any]) -> None:
    given = client.post("/v1/score", json=GOOD, headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.post("/v1/score", json=GOOD, headers={"X-Request-ID": "bad id\twith space"})
    assert made.headers["x-request-id"] not in ("", "bad id\twith space")


@pytest.mark.parametrize(
    ("body", "slug", "pointer"),
    [
        (b"{", "malformed-json", None),
        (b"", "malformed-json", None),
        (b'{"policy_number": "P", "mib_xml": "<r/>", "rx_xml": "<r/>"} x', "malformed-json", None),
        (b"[1, 2]", "invalid-request", "$"),
        (
            b'{"policy_number": 7, "mib_xml": "<r/>", "rx_xml": "<r/>"}',
            "invalid-request",
            "$.policy_number",
        ),
        (
            b'{"policy_number": "P", "mib_xml": null, "rx_xml": "<r/>"}',
            "invalid-request",
            "$.mib_xml",
        ),
        (b'{"policy_number": "P", "rx_xml": "<r/>"}', "invalid-request", "$"),
        (
            b'{"policy_number": "", "mib_xml": "<r/>", "rx_xml": "<r/>"}',
            "invalid-request",
            "$.policy_number",
        ),
        (
            b'{"policy_number": "P", "mib_xml": "<r/>", "rx_xml": "<r/>", "extra": 1}',
            "invalid-request",
            "$",
        ),
        (
            b'{"policy_number": "P", "mib_xml": "<r/>", "rx_xml": "<r/>", "as_of": "2021-02-30"}',
            "invalid-request",
            "$.as_of",
        ),
        (
            b'{"policy_number": "   ", "mib_xml": "<r/>", "rx_xml": "<r/>"}',
            "invalid-policy-number",
            "$.policy_number",
        ),
    ],
)
def test_bad_bodies_get_a_specific_400(
    client: TestClient[Any], fakes: Fakes, body: bytes, slug: str, pointer: str | None
) -> None:
    response = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(response, 400, slug)
    if pointer is not None:
        assert problem["errors"][0]["pointer"] == pointer
    assert fakes.model.calls == []


def test_bad_evidence_is_a_422_naming_the_document(client: TestClient[Any]) -> None:
    response = client.post("/v1/score", json={**GOOD, "rx_xml": "<bad"})
    problem = assert_problem(response, 422, "malformed-evidence")
    assert problem["document"] == "rx_xml"
    assert "rx_xml" in problem["detail"]


def test_a_body_over_the_limit_is_a_413(client: TestClient[Any]) -> None:
    response = client.post("/v1/score", json={**GOOD, "mib_xml": "<r>" + "x" * 5000 + "</r>"})
    problem = assert_problem(response, 413, "request-too-large")
    assert "4096" in problem["detail"]


@pytest.mark.anyio
@pytest.mark.parametrize(("pad", "status"), [(0, 200), (4100, 413)])
async def test_a_body_in_chunks_without_a_length_is_read_whole(
    fakes: Fakes, pad: int, status: int
) -> None:
    """Streamed bodies (no Content-Length): read whole when under the limit, 413 over it; on the hot
    path the chunks read before the refusal are replayed to Litestar, none lost."""
    app = create_app(fake_container(fakes, max_request_bytes=4096))
    body = msgspec.json.encode({**GOOD, "mib_xml": "<r>" + "x" * pad + "</r>"})
    parts = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/score", "raw_path": b"/v1/score", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"t")], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    async with app.lifespan():
        await app(scope, receive, send)
    assert sent[0]["status"] == status
    answer = msgspec.json.decode(b"".join(m.get("body", b"") for m in sent[1:]))
    if status == 200:
        assert answer["policy_number"] == GOOD["policy_number"]
    else:
        assert answer["type"] == "urn:riskscore:problem:request-too-large"


def test_unknown_route_and_wrong_method(client: TestClient[Any]) -> None:
    assert_problem(client.get("/v2/nothing"), 404, "not-found")
    response = client.get("/v1/score")
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["allow"]


def test_model_unavailable_is_a_503_with_retry_after_then_recovers(
    client: TestClient[Any], fakes: Fakes
) -> None:
    fakes.model.available = False
    response = client.post("/v1/score", json=GOOD)
    assert_problem(response, 503, "model-unavailable")
    assert response.headers["retry-after"] == "2"
    health = client.get("/health")
    assert_problem(health, 503, "model-unavailable")
    assert "retry-after" in health.headers
    assert fakes.audit.entries == []

    fakes.model.available = True
    assert client.get("/health").status_code == 200
    assert client.post("/v1/score", json=GOOD).status_code == 200


def test_no_score_when_the_audit_trail_refuses(client: TestClient[Any], fakes: Fakes) -> None:
    fakes.audit.fail = True
    response = client.post("/v1/score", json=GOOD)
    assert_problem(response, 503, "audit-trail-unavailable")
    assert "retry-after" in response.headers


class ExplodingModel(FakeModelClient):
    async def predict(
        self, vectors: Sequence[FeatureVector], *, explain: int = 3
    ) -> list[ModelPrediction]:
        raise RuntimeError("internal detail <xml>METFORMIN</xml>")


def test_an_unexpected_error_is_a_500_without_internals(fakes: Fakes) -> None:
    fakes.model = ExplodingModel()
    with (
        structlog.testing.capture_logs() as logs,
        TestClient(create_app(fake_container(fakes))) as client,
    ):
        response = client.post("/v1/score", json=GOOD)
    problem = assert_problem(response, 500, "internal-error")
    assert "METFORMIN" not in response.text
    assert "RuntimeError" not in problem["detail"]
    errors = [line for line in logs if line["event"] == "http.problem"]
    assert errors[0]["error_type"] == "RuntimeError"
    assert "METFORMIN" not in str(logs)


@pytest.fixture
def keyed_client(fakes: Fakes) -> Iterator[TestClient[Any]]:
    app = create_app(fake_container(fakes, api_key="s3cret-key"))
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic s3cret-key"},
    ],
)
def test_api_key_is_required_when_set(
    keyed_client: TestClient[Any], headers: dict[str, str]
) -> None:
    response = keyed_client.post("/v1/score", json=GOOD, headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    batch = keyed_client.post("/v1/service-function/score", json={"data": []}, headers=headers)
    assert_problem(batch, 401, "unauthorized")


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": "s3cret-key"}, {"Authorization": "Bearer s3cret-key"}]
)
def test_the_right_key_is_accepted(keyed_client: TestClient[Any], headers: dict[str, str]) -> None:
    assert keyed_client.post("/v1/score", json=GOOD, headers=headers).status_code == 200


def test_health_metrics_and_schema_stay_open_with_a_key(keyed_client: TestClient[Any]) -> None:
    assert keyed_client.get("/health").status_code == 200
    assert keyed_client.get("/metrics").status_code == 200
    assert keyed_client.get("/schema/openapi.json").status_code == 200


def batch(client: TestClient[Any], rows: list[Any]) -> Any:
    return client.post("/v1/service-function/score", json={"data": rows})


def test_service_function_answers_every_row_in_order_with_errors_in_place(
    client: TestClient[Any], fakes: Fakes
) -> None:
    rows = [
        [0, "A", "<hit/>", "<r/>"],
        [1, "B", None, "<r/>"],
        [2, "C", "<r/>", "<bad"],
        [3, "D", "<r/>", 5],
        [4, "E", "<r/>"],
        [5, " ", "<r/>", "<r/>"],
        [6, "G", "<r/>", "<fill/>"],
    ]
    response = batch(client, rows)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [row[0] for row in data] == [0, 1, 2, 3, 4, 5, 6]
    assert data[0][1]["policy_number"] == "A"
    assert data[6][1]["policy_number"] == "G"
    errors = {row[0]: row[1]["error"] for row in data if "error" in row[1]}
    assert {k: v["type"] for k, v in errors.items()} == {
        1: "null-argument",
        2: "malformed-evidence",
        3: "invalid-argument",
        4: "invalid-row",
        5: "invalid-policy-number",
    }
    assert errors[1]["detail"] == "mib_xml is NULL"
    assert errors[2]["document"] == "rx_xml"
    assert fakes.model.calls == [2]
    assert {e.prediction.policy_number for e in fakes.audit.entries} == {"A", "G"}
    assert {e.prediction.source for e in fakes.audit.entries} == {"service-function"}


def test_service_function_fast_path_keeps_row_indexes(client: TestClient[Any]) -> None:
    rows = [[index, f"P{index}", "<r/>", "<r/>"] for index in (5, 3, 9)]
    data = batch(client, rows).json()["data"]
    assert [(row[0], row[1]["policy_number"]) for row in data] == [(5, "P5"), (3, "P3"), (9, "P9")]


def test_service_function_empty_batch(client: TestClient[Any], fakes: Fakes) -> None:
    assert batch(client, []).json() == {"data": []}
    assert fakes.model.calls == []


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        (b"not json", "malformed-json"),
        (b'{"rows": []}', "invalid-request"),
        (b'{"data": {}}', "invalid-request"),
        (b'{"data": [], "extra": 1}', "invalid-request"),
        (b'{"data": [["x", "P", "<r/>", "<r/>"]]}', "malformed-envelope"),
        (b'{"data": [[true, "P", "<r/>", "<r/>"]]}', "malformed-envelope"),
        (b'{"data": ["row"]}', "malformed-envelope"),
        (b'{"data": [[]]}', "malformed-envelope"),
        pytest.param(
            b'{"data": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
            "malformed-json",
            id="nested-too-deeply",
        ),
    ],
)
def test_service_function_malformed_envelope_is_a_400(
    client: TestClient[Any], body: bytes, slug: str
) -> None:
    response = client.post(
        "/v1/service-function/score", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, slug)


def test_service_function_row_limit_is_a_413(fakes: Fakes) -> None:
    with TestClient(create_app(fake_container(fakes, max_batch_rows=3))) as client:
        response = batch(client, [[i, "P", "<r/>", "<r/>"] for i in range(4)])
        problem = assert_problem(response, 413, "too-many-rows")
        assert "3" in problem["detail"]
        assert batch(client, [[i, "P", "<r/>", "<r/>"] for i in range(3)]).status_code == 200
    assert fakes.model.calls == [3]


def test_service_function_model_down_fails_the_batch_with_503(
    client: TestClient[Any], fakes: Fakes
) -> None:
    fakes.model.available = False
    response = batch(client, [[0, "P", "<r/>", "<r/>"]])
    assert_problem(response, 503, "model-unavailable")
    assert "retry-after" in response.headers


class GatedModel(FakeModelClient):
    """Holds every call until ``gate`` is set, so requests pile up in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def predict(
        self, vectors: Sequence[FeatureVector], *, explain: int = 3
    ) -> list[ModelPrediction]:
        await self.gate.wait()
        return await super().predict(vectors, explain=explain)


@pytest.mark.anyio
async def test_overload_is_a_503_with_retry_after(fakes: Fakes) -> None:
    gated = GatedModel()
    fakes.model = gated
    app = create_app(fake_container(fakes, max_inflight=1))
    transport = httpx.ASGITransport(app=app)  # truly concurrent, unlike the test client's portal
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        first = asyncio.ensure_future(client.post("/v1/score", json=GOOD))
        while not await _inflight(client):
            await asyncio.sleep(0.005)
        second = await client.post("/v1/score", json=GOOD)
        gated.gate.set()
        assert (await first).status_code == 200
    assert_problem(second, 503, "overloaded")
    assert second.headers["retry-after"] == "1"


async def _inflight(client: httpx.AsyncClient) -> bool:
    text = (await client.get("/metrics")).text
    return "riskscore_inflight_requests 1" in text


def test_metrics_count_requests_scores_problems_and_audit(client: TestClient[Any]) -> None:
    client.post("/v1/score", json=GOOD)
    client.post("/v1/score", json=GOOD)
    client.post("/v1/score", json={**GOOD, "mib_xml": "<bad"})
    batch(client, [[0, "P", None, "<r/>"]])
    client.get("/nowhere")

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'riskscore_http_requests_total{route="/v1/score",method="POST",status="200"} 2' in text
    assert 'riskscore_http_requests_total{route="/v1/score",method="POST",status="422"} 1' in text
    assert 'riskscore_http_requests_total{route="unmatched",method="GET",status="404"} 1' in text
    assert 'riskscore_http_request_duration_seconds_count{route="/v1/score"} 3' in text
    assert 'riskscore_http_request_duration_seconds_bucket{route="/v1/score",le="+Inf"} 3' in text
    assert 'riskscore_scores_total{risk_class="standard"} 2' in text
    assert 'riskscore_problems_total{type="malformed-evidence"} 1' in text
    assert 'riskscore_row_errors_total{type="null-argument"} 1' in text
    assert 'riskscore_model_info{model_name="EVIDENCE_RISK_MODEL",model_version="V1"} 1' in text
    assert "riskscore_audit_recorded_total 2" in text
    assert "riskscore_audit_queue_depth 0" in text
    assert "# TYPE riskscore_audit_delivered_total counter" in text


def test_openapi_documents_both_scoring_bodies(client: TestClient[Any]) -> None:
    schema = client.get("/schema/openapi.json").json()
    score = schema["paths"]["/v1/score"]["post"]
    body = score["requestBody"]["content"]["application/json"]["schema"]
    assert body["title"] == "ScoreBody"
    assert body["required"] == ["policy_number", "mib_xml", "rx_xml"]
    assert body["additionalProperties"] is False
    assert {"200", "400", "422", "503"} <= set(score["responses"])
    batch_body = schema["paths"]["/v1/service-function/score"]["post"]["requestBody"]
    assert batch_body["content"]["application/json"]["schema"]["title"] == "ServiceFunctionBody"
    answer = schema["paths"]["/v1/service-function/score"]["post"]["responses"]["200"]
    assert "ServiceFunctionAnswerDoc" in str(answer)


def test_one_log_line_per_request_and_no_evidence_in_logs(fakes: Fakes) -> None:
    secret_mib = "<hit/><Code>311CA</Code>"
    secret_rx = "<fill/><DrugGenericName>METFORMIN</DrugGenericName>"
    merge = structlog.contextvars.merge_contextvars
    with (
        structlog.testing.capture_logs(processors=[merge]) as logs,
        TestClient(create_app(fake_container(fakes))) as client,
    ):
        client.post(
            "/v1/score",
            json={"policy_number": "P-9", "mib_xml": secret_mib, "rx_xml": secret_rx},
            headers={"X-Request-ID": "req-42"},
        )
        client.post(
            "/v1/score", json={"policy_number": "P-9", "mib_xml": "<bad", "rx_xml": secret_rx}
        )
    lines = [line for line in logs if line["event"] == "http.request"]
    assert [(line["route"], line["status"]) for line in lines] == [
        ("/v1/score", 200),
        ("/v1/score", 422),
    ]
    assert lines[0]["request_id"] == "req-42"
    assert lines[0]["ms"] >= 0
    dumped = msgspec.json.encode(logs, enc_hook=str).decode()
    for secret in ("METFORMIN", "311CA", "DrugGenericName", "<hit/>", "<bad"):
        assert secret not in dumped


def _receiver(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def test_read_body_joins_chunks_and_enforces_the_limit_while_streaming() -> None:
    from riskscore.adapters.http.api.asgi import read_body
    from riskscore.adapters.http.api.problems import ApiProblem

    scope: Any = {"headers": []}
    chunks = (
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    )
    assert asyncio.run(read_body(scope, _receiver(*chunks), 4)) == b"abcd"
    with pytest.raises(ApiProblem) as too_big:
        asyncio.run(read_body(scope, _receiver(*chunks), 3))
    assert too_big.value.status == 413
    announced: Any = {"headers": [(b"content-length", b"99")]}
    with pytest.raises(ApiProblem) as early:
        asyncio.run(read_body(announced, _receiver(), 10))  # refused before reading anything
    assert early.value.status == 413
    gone = ({"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"})
    with pytest.raises(ApiProblem) as disconnected:
        asyncio.run(read_body(scope, _receiver(*gone), 10))
    assert disconnected.value.slug == "incomplete-body"


def test_the_hot_path_answers_a_good_request_itself_and_hands_on_a_bad_one(
    fakes: Fakes, hot_path: bool
) -> None:
    app = create_app(fake_container(fakes))
    assert (app.hot_path is not None) is hot_path
    if not hot_path:
        return
    handed_on: list[bool] = []
    serve = app.hot_path.serve

    async def spy(scope: Any, receive: Any, send: Any) -> Any:
        replay = await serve(scope, receive, send)
        handed_on.append(replay is not None)
        return replay

    app.hot_path.serve = spy
    attempts: list[int] = []
    predict = fakes.model.predict

    async def counted(vectors: Any, **kwargs: Any) -> Any:
        attempts.append(len(vectors))
        return await predict(vectors, **kwargs)

    fakes.model.predict = counted  # type: ignore[method-assign]
    with TestClient(app) as client:
        good = client.post("/v1/score", json=GOOD, headers={"X-Request-ID": "req-1"})
        bad = client.post("/v1/score", json={**GOOD, "policy_number": 7})
        fakes.model.available = False
        down = client.post("/v1/score", json=GOOD, headers={"X-Request-ID": "req-2"})
    assert handed_on == [False, True, True]
    assert good.status_code == 200
    assert good.headers["x-request-id"] == "req-1"
    assert good.headers["content-type"] == "application/json"
    assert int(good.headers["content-length"]) == len(good.content)
    assert_problem(bad, 400, "invalid-request")
    problem = assert_problem(down, 503, "model-unavailable")
    assert problem["request_id"] == "req-2"  # the hand-over keeps the request's id
    assert down.headers["x-request-id"] == "req-2"
    assert attempts == [1, 1]  # the failed model call was not made a second time by Litestar
    assert len(fakes.audit.entries) == 1


def test_both_paths_answer_alike(fakes: Fakes) -> None:
    answers = {}
    for hot in (True, False):
        HOT_PATH[0] = hot
        with TestClient(create_app(fake_container(fakes))) as client:
            response = client.post("/v1/score", json=GOOD, headers={"X-Request-ID": "same"})
            metrics = client.get("/metrics").text
        body = response.json()
        for varying in ("prediction_id", "scored_at", "inference_ms", "total_ms"):
            body.pop(varying)
        scored = [line for line in metrics.splitlines() if "/v1/score" in line and "_count" in line]
        answers[hot] = (response.status_code, sorted(response.headers.keys()), body, scored)
    assert answers[True] == answers[False]
