"""The model service over real HTTP on 127.0.0.1: Snowflake's four body forms, answers, errors."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from riskscore.adapters.http.model_server import create_model_server_app
from riskscore.adapters.http.model_uvicorn import BackgroundServer
from riskscore.adapters.treemodel.serving import ServingModel
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.scoring import ModelPrediction, ModelRef, ReasonCode
from riskscore.ports.model_registry import InvalidFeatureMatrix, ScoringModel

NAMES = SCHEMA.names
N = len(NAMES)
MAX_ROWS = 50
MAX_BODY = 256 * 1024


class LinearModel(ScoringModel):
    def __init__(self, version: str, seed: int) -> None:
        self._ref = ModelRef(name="EVIDENCE_RISK_MODEL", version=version)
        self._w = np.random.default_rng(seed).normal(0, 0.2, N)

    @property
    def ref(self) -> ModelRef:
        return self._ref

    @property
    def feature_schema_version(self) -> str:
        return SCHEMA.version

    def predict(
        self, matrix: npt.NDArray[np.float64], *, explain: int = 3
    ) -> list[ModelPrediction]:
        out = []
        for row in matrix:
            c = row * self._w
            raw = float(c.sum())
            top = np.argsort(-np.abs(c), kind="stable")[:explain]
            out.append(
                ModelPrediction(
                    probability=1 / (1 + math.exp(-raw)),
                    raw_score=raw,
                    reason_codes=tuple(
                        ReasonCode(feature=NAMES[j], contribution=float(c[j]), value=float(row[j]))
                        for j in top
                    ),
                    model=self._ref,
                )
            )
        return out

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(1 / (1 + np.exp(-(matrix @ self._w))), dtype=np.float64)


class OneModelRegistry:
    def __init__(self, model: ScoringModel | None) -> None:
        self.model = model

    def default_version(self, name: str = "") -> str | None:
        return None if self.model is None else self.model.ref.version

    def load(self, name: str = "", version: str | None = None) -> ScoringModel:
        assert self.model is not None
        return self.model


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return LinearModel("V1", seed=1)


@pytest.fixture(scope="module")
def server(model: ScoringModel) -> Iterator[httpx.Client]:
    serving = ServingModel(OneModelRegistry(model), schema=SCHEMA)
    serving.refresh()
    app = create_model_server_app(serving, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY)
    with BackgroundServer(app) as running, httpx.Client(base_url=running.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def rows() -> npt.NDArray[np.float64]:
    """Feature rows shaped like real ones: small counts, flags, some -1 'not applicable'."""
    rng = np.random.default_rng(7)
    return rng.integers(-1, 6, size=(4, N)).astype(np.float64) + rng.choice([0, 0.25, 0.5], (4, N))


def post(client: httpx.Client, body: Any, path: str = "/predict-proba") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def expect_answer(
    response: httpx.Response,
    model: ScoringModel,
    matrix: npt.NDArray[np.float64],
    indexes: list[int],
    explain: int = 3,
) -> list[dict[str, Any]]:
    """The answer matches the model called directly, row for row, with indexes echoed in order."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    data = response.json()["data"]
    assert [row[0] for row in data] == indexes
    expected = model.predict(matrix, explain=explain)
    for (_, obj), want in zip(data, expected, strict=True):
        assert obj["output_feature_1"] == pytest.approx(want.probability, abs=1e-12)
        assert obj["output_feature_0"] == pytest.approx(1 - want.probability, abs=1e-12)
        assert obj["raw_score"] == pytest.approx(want.raw_score, abs=1e-12)
        assert [r["feature"] for r in obj["reason_codes"]] == [r.feature for r in want.reason_codes]
        assert [r["contribution"] for r in obj["reason_codes"]] == pytest.approx(
            [r.contribution for r in want.reason_codes]
        )
        assert obj["model_name"] == model.ref.name
        assert obj["model_version"] == model.ref.version
        assert obj["feature_schema_version"] == SCHEMA.version
    return [obj for _, obj in data]


def test_flat_form_scores_a_batch_and_echoes_row_indexes(
    server: httpx.Client, model: ScoringModel, rows: npt.NDArray[np.float64]
) -> None:
    indexes = [5, 3, 9, 0]
    body = {"data": [[i, *row] for i, row in zip(indexes, rows.tolist(), strict=True)]}
    response = post(server, body)
    expect_answer(response, model, rows, indexes)
    assert response.headers["X-Model-Name"] == "EVIDENCE_RISK_MODEL"
    assert response.headers["X-Model-Version"] == model.ref.version


def test_wide_form_takes_named_features_in_any_order(
    server: httpx.Client, model: ScoringModel, rows: npt.NDArray[np.float64]
) -> None:
    shuffled = list(reversed(NAMES))
    body = {
        "data": [
            [i, {name: row[NAMES.index(name)] for name in shuffled}]
            for i, row in enumerate(rows.tolist())
        ]
    }
    expect_answer(post(server, body), model, rows, [0, 1, 2, 3])


def test_dataframe_split_reorders_columns_and_echoes_the_index(
    server: httpx.Client, model: ScoringModel, rows: npt.NDArray[np.float64]
) -> None:
    order = np.random.default_rng(3).permutation(N)
    body = {
        "dataframe_split": {
            "index": [10, 11, 12, 13],
            "columns": [NAMES[j] for j in order],
            "data": rows[:, order].tolist(),
        },
        "params": {},
    }
    expect_answer(post(server, body), model, rows, [10, 11, 12, 13])


def test_dataframe_split_without_index_numbers_rows_from_zero(
    server: httpx.Client, model: ScoringModel, rows: npt.NDArray[np.float64]
) -> None:
    body = {"dataframe_split": {"columns": list(NAMES), "data": rows[:2].tolist()}}
    expect_answer(post(server, body), model, rows[:2], [0, 1])


def test_dataframe_records(
    server: httpx.Client, model: ScoringModel, rows: npt.NDArray[np.float64]
) -> None:
    body = {
        "dataframe_records": [dict(zip(NAMES, row, strict=True)) for row in rows.tolist()],
        "params": {"explain": 1},
    }
    answer = expect_answer(post(server, body), model, rows, [0, 1, 2, 3], explain=1)
    assert all(len(obj["reason_codes"]) == 1 for obj in answer)


@pytest.mark.parametrize("explain", [0, 5])
def test_params_explain_sets_the_reason_code_count(
    server: httpx.Client, model: ScoringModel, rows: npt.NDArray[np.float64], explain: int
) -> None:
    body = {"data": [[0, *rows[0].tolist()]], "params": {"explain": explain, "other": "ignored"}}
    [obj] = expect_answer(post(server, body), model, rows[:1], [0], explain=explain)
    assert len(obj["reason_codes"]) == explain


def test_booleans_count_as_zero_and_one(server: httpx.Client, model: ScoringModel) -> None:
    flags = [True, False] * (N // 2) + [True] * (N % 2)
    response = post(server, {"data": [[0, *flags]]})
    expect_answer(response, model, np.array([flags], dtype=np.float64), [0])


def test_predict_answers_the_class_label(
    server: httpx.Client, model: ScoringModel, rows: npt.NDArray[np.float64]
) -> None:
    spread = np.vstack([rows, -rows])  # both sides of 0.5
    body = {"data": [[i, *row] for i, row in enumerate(spread.tolist())]}
    response = post(server, body, "/predict")
    assert response.status_code == 200, response.text
    labels = [obj["output_feature_0"] for _, obj in response.json()["data"]]
    expected = [int(p.probability > 0.5) for p in model.predict(spread)]
    assert labels == expected
    assert set(labels) == {0, 1}
    assert response.headers["X-Model-Version"] == model.ref.version


def test_health_names_the_loaded_model(server: httpx.Client, model: ScoringModel) -> None:
    response = server.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "model_name": model.ref.name,
        "model_version": model.ref.version,
        "feature_schema_version": SCHEMA.version,
    }


def flat(*values: Any, index: Any = 0) -> dict[str, Any]:
    return {"data": [[index, *values]]}


def full_record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(NAMES, 1.0)
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


BAD_BODIES = {
    "too-few-features": (
        flat(*[1.0] * (N - 1)),
        f"has {N - 1} feature values; the model takes {N}",
    ),
    "too-many-features": (flat(*[1.0] * (N + 1)), f"has {N + 1} feature values"),
    "ragged-batch": (
        {"data": [[0, *[1.0] * N], [1, *[1.0] * (N - 2)]]},
        "data row 1 has",
    ),
    "string-value": (flat("1.0", *[1.0] * (N - 1)), "non-numeric value at $.data[0][1]"),
    "null-value": (flat(*[1.0] * (N - 1), None), "non-numeric value"),
    "nested-array": (flat([1.0], *[1.0] * (N - 1)), "non-numeric value"),
    "unknown-column-wide": (
        {"data": [[0, full_record(not_a_feature=1.0)]]},
        "unknown columns [not_a_feature]",
    ),
    "missing-column-wide": (
        {"data": [[0, full_record(rx_hit=...)]]},
        "missing columns [rx_hit]",
    ),
    "unknown-column-records": (
        {"dataframe_records": [full_record(), full_record(zzz=2.0)]},
        "dataframe_records[1]: unknown columns [zzz]",
    ),
    "missing-column-split": (
        {"dataframe_split": {"columns": list(NAMES[1:]), "data": [[1.0] * (N - 1)]}},
        f"missing columns [{NAMES[0]}]",
    ),
    "repeated-column-split": (
        {"dataframe_split": {"columns": [*NAMES, NAMES[0]], "data": [[1.0] * (N + 1)]}},
        f"repeated columns [{NAMES[0]}]",
    ),
    "split-row-width": (
        {"dataframe_split": {"columns": list(NAMES), "data": [[1.0] * (N - 1)]}},
        f"has {N - 1} values; columns has {N}",
    ),
    "split-index-length": (
        {"dataframe_split": {"index": [0, 1], "columns": list(NAMES), "data": [[1.0] * N]}},
        "dataframe_split.index has 2 entries; data has 1 rows",
    ),
    "empty-data": ({"data": []}, "data is empty"),
    "empty-records": ({"dataframe_records": []}, "dataframe_records is empty"),
    "no-form": ({"params": {}}, "send exactly one of"),
    "two-forms": (
        {"data": [[0, *[1.0] * N]], "dataframe_records": [full_record()]},
        "got data, dataframe_records",
    ),
    "unknown-member": ({"rows": []}, "unknown field `rows`"),
    "fractional-index": (flat(*[1.0] * N, index=0.5), "integer row index"),
    "empty-row": ({"data": [[]]}, "data row 0 is empty"),
    "wide-row-with-extra": ({"data": [[0, full_record(), 1.0]]}, "a wide row is"),
    "too-many-rows": (
        {"data": [[i, *[1.0] * N] for i in range(MAX_ROWS + 1)]},
        f"the limit is {MAX_ROWS} per request",
    ),
    "explain-negative": ({"data": [[0, *[1.0] * N]], "params": {"explain": -1}}, "explain"),
    "infinite-value": (b'{"data": [[0, 1e999' + b", 1.0" * (N - 1) + b"]]}", "out of range"),
    "nan-literal": (b'{"data": [[0, NaN' + b", 1.0" * (N - 1) + b"]]}", "not valid JSON"),
    "malformed-json": (b'{"data": [[0, 1.0', "not valid JSON"),
    "not-an-object": (b"[1, 2, 3]", "invalid request body"),
    "empty-body": (b"", "request body is empty"),
}


@pytest.mark.parametrize("path", ["/predict-proba", "/predict"])
@pytest.mark.parametrize(("body", "message"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_bodies_get_a_400_problem_with_a_clear_message(
    server: httpx.Client, body: Any, message: str, path: str
) -> None:
    response = post(server, body, path)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert message in problem["detail"]
    assert problem["error"] == problem["detail"]  # Snowflake's legacy server shape


def test_an_oversized_body_is_413(server: httpx.Client) -> None:
    response = post(server, b'{"data": [' + b" " * MAX_BODY + b"]}")
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert str(MAX_BODY) in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/predict", 405), ("POST", "/score", 404), ("GET", "/", 404)],
)
def test_wrong_routes_are_problems_too(
    server: httpx.Client, method: str, path: str, status: int
) -> None:
    response = server.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


def test_without_a_model_health_and_predict_are_503_with_retry_after() -> None:
    serving = ServingModel(OneModelRegistry(None), schema=SCHEMA)
    serving.refresh()
    with BackgroundServer(create_model_server_app(serving)) as running:
        health = httpx.get(running.base_url + "/health")
        predict = httpx.post(running.base_url + "/predict-proba", json=flat(*[1.0] * N))
    for response in (health, predict):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "no model is loaded"


class FailingModel(LinearModel):
    """Refuses every matrix (ValueError) or crashes (RuntimeError), as told."""

    def __init__(self, error: Exception) -> None:
        super().__init__("V9", seed=9)
        self.error = error

    def predict(
        self, matrix: npt.NDArray[np.float64], *, explain: int = 3
    ) -> list[ModelPrediction]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (InvalidFeatureMatrix("expected 141 columns"), 400, "the model refused the input"),
        (RuntimeError("a bug"), 500, "the model service failed; see its log"),
    ],
    ids=["model-refuses", "model-crashes"],
)
def test_model_failures_are_problems_not_crashes(
    error: Exception, status: int, detail: str
) -> None:
    serving = ServingModel(OneModelRegistry(FailingModel(error)), schema=SCHEMA)
    serving.refresh()
    with BackgroundServer(create_model_server_app(serving)) as running:
        response = httpx.post(running.base_url + "/predict-proba", json=flat(*[1.0] * N))
        still_up = httpx.get(running.base_url + "/health")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert "a bug" not in response.text
    assert still_up.status_code == 200
