"""End to end: ``riskscore model-server`` and ``riskscore serve`` as real processes on 127.0.0.1.

The API runs as deployed (``RISKSCORE_MODEL_CLIENT=http`` against the model service) unless a test
says otherwise. Covered: the reference samples, a 1,000-row service-function batch with bad rows,
hostile and malformed input (4xx problem+json, never a 500, the server healthy after), the model
service going away and coming back, and durability across a SIGKILL of the API.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Service, ServiceFactory, clean_env
from http_contract_checks import MIB_SAMPLE, RX_SAMPLE

pytestmark = pytest.mark.slow

EMPTY = "<r/>"
RISK_CLASSES = {"preferred", "standard", "substandard", "refer"}
PROBLEM = "application/problem+json"
MAX_REQUEST_BYTES = 65_536
MAX_XML_BYTES = 16_384

XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<Response><ResponseData>&x;</ResponseData></Response>"
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]><lolz>&lol9;</lolz>"
)
DEEP = "<a>" * 500 + "</a>" * 500


def start_stack(data_dir: Path, services: ServiceFactory) -> tuple[Service, Service]:
    """(model service, API in http mode) with small request limits to test them cheaply."""
    model = services("model-server", clean_env(data_dir))
    api = services(
        "serve",
        clean_env(
            data_dir,
            RISKSCORE_MODEL_CLIENT="http",
            RISKSCORE_MODEL_URL=model.url,
            RISKSCORE_MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES),
            RISKSCORE_MAX_XML_BYTES=str(MAX_XML_BYTES),
            RISKSCORE_BREAKER_RESET_S="0.5",
        ),
    )
    return model, api


@pytest.fixture(scope="module")
def shared(module_data_dir: Path, module_services: ServiceFactory) -> tuple[Service, Service]:
    """One stack for the tests that leave it as they found it."""
    return start_stack(module_data_dir, module_services)


@pytest.fixture
def stack(data_dir: Path, services: ServiceFactory) -> tuple[Service, Service]:
    """A stack of the test's own (for tests that stop or kill a service)."""
    return start_stack(data_dir, services)


def score(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/score", json=body, timeout=30.0, **kwargs)


def test_reference_samples_score(shared: tuple[Service, Service]) -> None:
    _, api = shared
    for policy, mib, rx in (("TEST-001", MIB_SAMPLE, RX_SAMPLE), ("TEST-002", EMPTY, EMPTY)):
        response = score(api.url, {"policy_number": policy, "mib_xml": mib, "rx_xml": rx})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["policy_number"] == policy
        assert 0.0 <= answer["risk_score"] <= 1.0
        assert answer["risk_class"] in RISK_CLASSES
        assert (answer["model_name"], answer["model_version"]) == ("EVIDENCE_RISK_MODEL", "V1")
        assert len(answer["reason_codes"]) == 3
        assert answer["inference_ms"] > 0
        assert answer["total_ms"] >= answer["inference_ms"]
        assert response.headers["x-request-id"]


def test_service_function_batch_of_1000_rows_keeps_order_and_answers_bad_rows_in_place(
    shared: tuple[Service, Service], module_data_dir: Path
) -> None:
    _, api = shared
    rows: list[list[Any]] = []
    bad: dict[int, str] = {}
    for index in range(1000):
        policy = f"SF-{index:04d}"
        if index % 97 == 5:
            rows.append([index, policy, None, EMPTY])
            bad[index] = "null-argument"
        elif index % 97 == 17:
            rows.append([index, policy, "<Response><oops>", EMPTY])
            bad[index] = "malformed-evidence"
        elif index % 97 == 42:
            rows.append([index, policy, EMPTY, XXE])
            bad[index] = "forbidden-xml-construct"
        elif index % 97 == 60:
            rows.append([index, policy, EMPTY, 12345])
            bad[index] = "invalid-argument"
        else:
            rows.append([index, policy, MIB_SAMPLE if index % 2 else EMPTY, RX_SAMPLE])
    response = httpx.post(f"{api.url}/v1/service-function/score", json={"data": rows}, timeout=60.0)

    assert response.status_code == 200, response.text[:500]
    data = response.json()["data"]
    assert [row[0] for row in data] == list(range(1000))
    for index, answer in data:
        if index in bad:
            assert set(answer) == {"error"}
            assert answer["error"]["type"] == bad[index], (index, answer)
            assert answer["error"]["detail"]
        else:
            assert answer["policy_number"] == f"SF-{index:04d}"
            assert answer["risk_class"] in RISK_CLASSES
    scored = {answer["prediction_id"] for index, answer in data if index not in bad}
    assert len(scored) == 1000 - len(bad)
    logged = wait_for_predictions(module_data_dir, scored)
    assert set(logged) == scored
    assert set(logged.values()) == {1}


MALFORMED: list[tuple[str, bytes, int, str]] = [
    ("malformed JSON", b'{"policy_number": "P", "mib_xml": ', 400, "malformed-json"),
    ("not UTF-8", b"\xff\xfe\x00", 400, "malformed-json"),
    ("empty body", b"", 400, "malformed-json"),
    (
        "wrong JSON type",
        b'{"policy_number": 1, "mib_xml": "<r/>", "rx_xml": "<r/>"}',
        400,
        "invalid-request",
    ),
    ("missing field", b'{"policy_number": "P", "mib_xml": "<r/>"}', 400, "invalid-request"),
    (
        "unknown field",
        b'{"policy_number": "P", "mib_xml": "<r/>", "rx_xml": "<r/>", "x": 1}',
        400,
        "invalid-request",
    ),
    ("array body", b"[]", 400, "invalid-request"),
    (
        "blank policy",
        b'{"policy_number": " ", "mib_xml": "<r/>", "rx_xml": "<r/>"}',
        400,
        "invalid-policy-number",
    ),
    (
        "oversized body",
        b'{"policy_number": "P", "mib_xml": "' + b"x" * MAX_REQUEST_BYTES + b'", "rx_xml": ""}',
        413,
        "request-too-large",
    ),
]
HOSTILE_EVIDENCE: list[tuple[str, str, str]] = [
    ("XXE", XXE, "forbidden-xml-construct"),
    ("billion laughs", BILLION_LAUGHS, "forbidden-xml-construct"),
    ("too deep", DEEP, "evidence-too-deep"),
    ("document over the XML limit", "<r>" + "x" * MAX_XML_BYTES + "</r>", "evidence-too-large"),
    ("not XML", "hello", "malformed-evidence"),
    ("empty document", "", "malformed-evidence"),
]


def test_bad_input_is_a_4xx_problem_and_the_server_stays_healthy(
    shared: tuple[Service, Service],
) -> None:
    _, api = shared
    seen: list[tuple[str, int]] = []
    for name, body, status, slug in MALFORMED:
        response = httpx.post(
            f"{api.url}/v1/score",
            content=body,
            headers={"content-type": "application/json"},
            timeout=30.0,
        )
        check_problem(response, status, slug, name)
        seen.append((name, response.status_code))
    for name, document, slug in HOSTILE_EVIDENCE:
        for field in ("mib_xml", "rx_xml"):
            body = {"policy_number": "P-1", "mib_xml": EMPTY, "rx_xml": EMPTY, field: document}
            problem = check_problem(score(api.url, body), 422, slug, name)
            assert problem["document"] == field
            seen.append((name, 422))
    check_problem(httpx.get(f"{api.url}/v2/score", timeout=10.0), 404, "not-found", "route")
    check_problem(
        httpx.get(f"{api.url}/v1/score", timeout=10.0), 405, "method-not-allowed", "method"
    )

    assert httpx.get(f"{api.url}/health", timeout=10.0).status_code == 200
    assert (
        score(api.url, {"policy_number": "P", "mib_xml": EMPTY, "rx_xml": EMPTY}).status_code == 200
    )
    metrics = httpx.get(f"{api.url}/metrics", timeout=10.0).text
    assert 'status="500"' not in metrics
    assert "passwd" not in api.output()
    assert "root:" not in api.output()


def check_problem(response: httpx.Response, status: int, slug: str, name: str) -> dict[str, Any]:
    assert response.status_code == status, (name, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith(PROBLEM), name
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:riskscore:problem:{slug}", (name, problem)
    assert problem["detail"], name
    return problem


def test_model_service_outage_is_a_503_with_retry_after_and_heals(
    stack: tuple[Service, Service],
) -> None:
    model, api = stack
    body = {"policy_number": "P-OUT", "mib_xml": EMPTY, "rx_xml": EMPTY}
    assert score(api.url, body).status_code == 200

    model.stop()
    response = score(api.url, body)
    problem = check_problem(response, 503, "model-unavailable", "model down")
    assert int(response.headers["retry-after"]) >= 1
    assert "detail" in problem
    health = httpx.get(f"{api.url}/health", timeout=10.0)
    assert health.status_code == 503
    assert "retry-after" in health.headers

    model.start()
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        response = score(api.url, body)
        if response.status_code == 200:
            break
        assert response.status_code == 503, response.text
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    assert httpx.get(f"{api.url}/health", timeout=10.0).status_code == 200


def test_every_acknowledged_prediction_survives_a_sigkill_exactly_once(
    data_dir: Path, services: ServiceFactory
) -> None:
    api = services("serve", clean_env(data_dir, RISKSCORE_AUDIT_FLUSH_INTERVAL_S="0.5"))
    with Load(api.url, 4) as load:
        load.wait_for(300)
        api.kill()
    acknowledged = load.acknowledged

    assert len(acknowledged) >= 300
    api.start()  # replays the journal the killed process left
    logged = wait_for_predictions(data_dir, set(acknowledged))
    assert set(acknowledged) <= set(logged)
    assert Counter(logged.values()) == Counter({1: len(logged)})
    features = count_rows(data_dir, "online_features", set(acknowledged))
    assert set(features) >= set(acknowledged)
    assert set(features.values()) == {1}


def count_rows(data_dir: Path, table: str, ids: set[str]) -> dict[str, int]:
    connection = sqlite3.connect(data_dir / "riskscore.sqlite3", timeout=10.0)
    try:
        rows = connection.execute(
            f"SELECT prediction_id, COUNT(*) FROM {table} GROUP BY prediction_id"
        ).fetchall()
    except sqlite3.OperationalError:  # the tables do not exist yet
        rows = []
    finally:
        connection.close()
    return {pid: count for pid, count in rows if pid in ids}


def wait_for_predictions(data_dir: Path, ids: set[str], timeout_s: float = 60.0) -> dict[str, int]:
    """The prediction log's row count per id, once every id in ``ids`` arrived (or time ran out)."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, int] = {}
    while time.monotonic() < deadline:
        found = count_rows(data_dir, "model_predictions", ids)
        if set(found) >= ids:
            break
        time.sleep(0.2)
    return found


class Load:
    """Threads posting applications until stopped; each 200 answer's prediction id is kept. A
    request the server dropped (it died mid-request) was never acknowledged: its thread stops."""

    def __init__(self, url: str, threads: int, *, fresh_connections: bool = False) -> None:
        self.url = url
        self.acknowledged: list[str] = []
        # A fresh connection per request lets the kernel hand requests to any worker process.
        self._limits = httpx.Limits(max_keepalive_connections=0 if fresh_connections else 20)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(t,)) for t in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, n: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.acknowledged) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.acknowledged) >= n, f"only {len(self.acknowledged)} answers"

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, thread: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0, limits=self._limits) as http:
            sequence = 0
            while not self._stop.is_set():
                sequence += 1
                body = {
                    "policy_number": f"L-{thread}-{sequence}",
                    "mib_xml": MIB_SAMPLE,
                    "rx_xml": RX_SAMPLE,
                }
                try:
                    response = http.post("/v1/score", json=body)
                except httpx.HTTPError:
                    return  # the server died mid-request: never acknowledged
                if response.status_code == 200:
                    with self._lock:
                        self.acknowledged.append(response.json()["prediction_id"])
