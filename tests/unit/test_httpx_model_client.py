"""HttpxModelClient against httpx.MockTransport: wire format, retry, timeout budget, breaker.

The interaction with the service is the behaviour here (how many calls go out, when), so a mock
transport is the right tool; tests/contract drives the client against a real model service.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from riskscore.adapters.httpx.model_client import HttpxModelClient
from riskscore.domain.features.schema import FeatureVector
from riskscore.ports.model_client import ModelClient, ModelInputError, ModelUnavailable

SCHEMA_VERSION = "abcdef0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def vectors(n: int = 2, schema_version: str = SCHEMA_VERSION) -> list[FeatureVector]:
    return [FeatureVector(schema_version=schema_version, values=(float(i), 0.5)) for i in range(n)]


def answer(request: httpx.Request, **extra: Any) -> httpx.Response:
    """A riskscore model service answer: P(class 1) = first feature / 10, one reason code."""
    body = json.loads(request.content)
    rows = []
    for row in body["data"]:
        p = row[1] / 10
        obj = {
            "output_feature_0": 1 - p,
            "output_feature_1": p,
            "raw_score": row[1],
            "reason_codes": [{"feature": "a", "contribution": 0.1, "value": row[1]}],
            "model_name": "EVIDENCE_RISK_MODEL",
            "model_version": "V7",
            "feature_schema_version": SCHEMA_VERSION,
            **extra,
        }
        rows.append([row[0], obj])
    return httpx.Response(200, json={"data": rows})


class Service:
    """A scripted MockTransport handler that records the requests it saw."""

    def __init__(self, *steps: Handler | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step(request)


def client_for(
    service: Service | Handler, clock: FakeClock | None = None, **kw: Any
) -> HttpxModelClient:
    return HttpxModelClient(
        "http://model.test",
        transport=httpx.MockTransport(service),
        clock=clock or FakeClock(),
        **kw,
    )


def predict(client: HttpxModelClient, n: int = 2, **kw: Any) -> Any:
    return asyncio.run(client.predict(vectors(n), **kw))


def status(code: int, body: dict[str, Any] | None = None, **headers: str) -> Handler:
    return lambda _request: httpx.Response(code, json=body or {}, headers=headers)


def test_is_a_model_client() -> None:
    assert isinstance(client_for(Service(answer)), ModelClient)


def test_sends_the_flat_snowflake_form_and_reads_the_extensions() -> None:
    service = Service(answer)
    predictions = predict(client_for(service, explain=5), n=3)
    [request] = service.requests
    assert request.method == "POST"
    assert request.url.path == "/predict-proba"
    assert json.loads(request.content) == {
        "data": [[0, 0.0, 0.5], [1, 1.0, 0.5], [2, 2.0, 0.5]],
        "params": {"explain": 5},
    }
    assert [p.probability for p in predictions] == [0.0, 0.1, 0.2]
    assert [p.raw_score for p in predictions] == [0.0, 1.0, 2.0]
    assert predictions[2].reason_codes[0].feature == "a"
    assert predictions[2].reason_codes[0].value == 2.0
    assert {(p.model.name, p.model.version) for p in predictions} == {("EVIDENCE_RISK_MODEL", "V7")}


@pytest.mark.parametrize("base_url", ["http://model.test/ml", "http://model.test/ml/"])
def test_a_base_url_path_prefix_is_kept(base_url: str) -> None:
    service = Service(answer)
    client = HttpxModelClient(base_url, transport=httpx.MockTransport(service))
    predict(client, n=1)
    asyncio.run(client.ready())
    assert [str(r.url) for r in service.requests] == [
        "http://model.test/ml/predict-proba",
        "http://model.test/ml/health",
    ]


def test_numpy_scalars_in_vectors_are_sent_as_plain_numbers() -> None:
    service = Service(answer)
    values = (np.float64(1.5), np.int64(2), np.float32(0.5))
    vector = FeatureVector(schema_version=SCHEMA_VERSION, values=values)  # type: ignore[arg-type]
    asyncio.run(client_for(service).predict([vector]))
    assert json.loads(service.requests[0].content)["data"] == [[0, 1.5, 2, 0.5]]


def test_explain_per_call_overrides_the_client_default() -> None:
    service = Service(answer)
    predict(client_for(service, explain=5), explain=0)
    assert json.loads(service.requests[0].content)["params"] == {"explain": 0}


def test_a_plain_snowflake_answer_is_understood() -> None:
    """No riskscore extensions: raw score is the logit, model ref comes from the client's name."""

    def plain(request: httpx.Request) -> httpx.Response:
        rows = json.loads(request.content)["data"]
        return httpx.Response(
            200,
            json={
                "data": [[r[0], {"output_feature_0": 0.5, "output_feature_1": 0.5}] for r in rows]
            },
        )

    [prediction] = predict(client_for(Service(plain)), n=1)
    assert prediction.probability == 0.5
    assert prediction.raw_score == pytest.approx(0.0)
    assert prediction.reason_codes == ()
    assert prediction.model.name == "EVIDENCE_RISK_MODEL"


def test_no_vectors_sends_nothing() -> None:
    service = Service(answer)
    assert asyncio.run(client_for(service).predict([])) == []
    assert service.requests == []


def test_a_model_of_another_feature_schema_is_an_input_error() -> None:
    client = client_for(Service(answer))
    with pytest.raises(ModelInputError, match="schema version"):
        asyncio.run(client.predict(vectors(1, schema_version="0" * 16)))


@pytest.mark.parametrize("code", [400, 413, 422])
def test_4xx_is_an_input_error_with_the_services_message_and_is_not_retried(code: int) -> None:
    service = Service(status(code, {"detail": "data row 0 has 1 feature values", "error": "x"}))
    with pytest.raises(ModelInputError, match="data row 0 has 1 feature values"):
        predict(client_for(service))
    assert len(service.requests) == 1


def test_legacy_error_member_is_read_when_there_is_no_detail() -> None:
    with pytest.raises(ModelInputError, match="legacy message"):
        predict(client_for(Service(status(400, {"error": "legacy message"}))))


def test_503_is_unavailable_with_the_services_retry_after() -> None:
    service = Service(status(503, {"detail": "no model is loaded"}, **{"Retry-After": "7"}))
    with pytest.raises(ModelUnavailable, match="no model is loaded") as caught:
        predict(client_for(service))
    assert caught.value.retry_after_s == 7.0
    assert len(service.requests) == 1


def test_a_connection_failure_is_retried_once_then_succeeds() -> None:
    service = Service(httpx.ConnectError("refused"), answer)
    predictions = predict(client_for(service))
    assert len(predictions) == 2
    assert len(service.requests) == 2


def test_connection_failures_beyond_the_retries_are_unavailable() -> None:
    service = Service(httpx.RemoteProtocolError("closed"))
    with pytest.raises(ModelUnavailable, match="connection failed"):
        predict(client_for(service, retries=2))
    assert len(service.requests) == 3


def test_a_timeout_is_not_retried() -> None:
    service = Service(httpx.ReadTimeout("slow"))
    with pytest.raises(ModelUnavailable, match="timed out"):
        predict(client_for(service))
    assert len(service.requests) == 1


def test_the_time_budget_bounds_a_call_that_hangs() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return answer(request)

    client = HttpxModelClient(
        "http://model.test", transport=httpx.MockTransport(hang), timeout_s=0.05
    )
    with pytest.raises(ModelUnavailable, match="timed out"):
        predict(client)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"data": [[0, {"output_feature_1": 1.5}], [1, {"output_feature_1": 0.1}]]}',
        b'{"data": [[0, {"output_feature_1": 0.5}]]}',
        b'{"data": [[1, {"output_feature_1": 0.5}], [0, {"output_feature_1": 0.5}]]}',
    ],
    ids=["not-json", "probability-out-of-range", "missing-row", "rows-out-of-order"],
)
def test_a_bad_answer_is_unavailable(body: bytes) -> None:
    client = client_for(Service(lambda _r: httpx.Response(200, content=body)))
    with pytest.raises(ModelUnavailable):
        predict(client)


def test_breaker_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = FakeClock()
    service = Service(status(500))
    client = client_for(service, clock, breaker_failures=3, breaker_reset_s=2.0)
    for _ in range(3):
        with pytest.raises(ModelUnavailable, match="500"):
            predict(client)
    assert client.breaker.state == "open"
    clock.now += 0.5
    with pytest.raises(ModelUnavailable, match="circuit is open") as caught:
        predict(client)
    assert caught.value.retry_after_s == pytest.approx(1.5)
    assert len(service.requests) == 3  # no call went out while open


def test_half_open_trial_success_closes_the_breaker() -> None:
    clock = FakeClock()
    service = Service(status(500), status(500), answer)
    client = client_for(service, clock, breaker_failures=2, breaker_reset_s=2.0)
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            predict(client)
    clock.now += 2.0
    assert client.breaker.state == "half-open"
    assert len(predict(client)) == 2
    assert client.breaker.state == "closed"
    assert len(predict(client)) == 2


def test_half_open_trial_failure_reopens_at_once() -> None:
    clock = FakeClock()
    service = Service(status(502))
    client = client_for(service, clock, breaker_failures=2, breaker_reset_s=2.0)
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            predict(client)
    clock.now += 2.5
    with pytest.raises(ModelUnavailable, match="502"):
        predict(client)  # the single trial call
    assert client.breaker.state == "open"
    with pytest.raises(ModelUnavailable, match="circuit is open"):
        predict(client)
    assert len(service.requests) == 3


def test_only_one_trial_goes_out_while_half_open() -> None:
    clock = FakeClock()
    release = asyncio.Event()

    async def slow_ok(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return answer(request)

    calls = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 1:
            return httpx.Response(500)
        return await slow_ok(request)

    client = HttpxModelClient(
        "http://model.test",
        transport=httpx.MockTransport(handler),
        clock=clock,
        breaker_failures=1,
        breaker_reset_s=1.0,
    )

    async def scenario() -> tuple[int, str]:
        with pytest.raises(ModelUnavailable):
            await client.predict(vectors(1))
        clock.now += 1.0
        trial = asyncio.create_task(client.predict(vectors(1)))
        await asyncio.sleep(0)
        with pytest.raises(ModelUnavailable, match="half-open"):
            await client.predict(vectors(1))
        release.set()
        return len(await trial), client.breaker.state

    assert asyncio.run(scenario()) == (1, "closed")
    assert calls["n"] == 2


def test_input_errors_do_not_open_the_breaker() -> None:
    service = Service(status(400, {"detail": "bad"}))
    client = client_for(service, breaker_failures=2)
    for _ in range(4):
        with pytest.raises(ModelInputError):
            predict(client)
    assert client.breaker.state == "closed"
    assert len(service.requests) == 4


def test_a_cancelled_trial_does_not_wedge_the_breaker() -> None:
    clock = FakeClock()

    async def hang(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(500)

    client = HttpxModelClient(
        "http://model.test",
        transport=httpx.MockTransport(hang),
        clock=clock,
        breaker_failures=1,
        breaker_reset_s=1.0,
    )
    client.breaker.failure()  # open
    clock.now += 1.0

    async def scenario() -> None:
        trial = asyncio.create_task(client.predict(vectors(1)))
        await asyncio.sleep(0.01)
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial

    asyncio.run(scenario())
    client.breaker.acquire()  # a new trial may go out: does not raise


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (status(200, {"status": "ok"}), True),
        (status(503, {"detail": "no model"}), False),
        (httpx.ConnectError("refused"), False),
        (ValueError("anything at all"), False),
    ],
    ids=["200", "503", "connect-error", "unexpected"],
)
def test_ready_asks_health_and_never_raises(step: Handler | Exception, expected: bool) -> None:
    service = Service(step)
    client = client_for(service)
    assert asyncio.run(client.ready()) is expected
    assert service.requests[0].url.path == "/health"


def test_aclose_closes_the_pool() -> None:
    client = client_for(Service(answer))
    asyncio.run(client.aclose())
    with pytest.raises(ModelUnavailable):
        predict(client)


def test_rejects_a_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        HttpxModelClient("http://model.test", timeout_s=0)
