"""One contract for every ModelClient: in-process, and httpx against a real model service on 127.0.0.1.

Both clients serve through a ``ServingModel`` over the same registry, so they must answer exactly what
the model answers when called directly: same probabilities (to 1e-12; JSON floats round-trip
exactly), same raw scores, same reason codes, same model reference, same errors. The last test
promotes V2 and rolls back (through the file-system registry) while requests flow, and no request
may fail.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest

from riskscore.adapters.http.model_server import create_model_server_app
from riskscore.adapters.http.model_uvicorn import BackgroundServer, bind_socket
from riskscore.adapters.httpx.model_client import HttpxModelClient
from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.treemodel.ensemble import RawTree, pack_trees
from riskscore.adapters.treemodel.inprocess_client import InProcessModelClient
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.adapters.treemodel.serving import ServingModel
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import ModelPrediction
from riskscore.ports.model_client import ModelClient, ModelInputError, ModelUnavailable
from riskscore.ports.model_registry import ScoringModel

N = len(SCHEMA)
POLL_S = 0.02


def small_model(seed: int) -> TreeEnsembleModel:
    """A 20-tree depth-3 ensemble with random splits over the real schema: fast to build, real code."""
    rng = np.random.default_rng(seed)
    internal = np.arange(7)
    left = np.concatenate([2 * internal + 1, np.full(8, -1)])
    right = np.concatenate([2 * internal + 2, np.full(8, -1)])
    trees = [
        RawTree(
            left=left,
            right=right,
            feature=rng.integers(0, 12, 15),  # the first columns: counts and flags
            threshold=rng.integers(0, 4, 15) + 0.5,
            missing_left=rng.random(15) < 0.5,
            value=rng.normal(0.0, 0.4, 15),
            weight=rng.integers(1, 100, 15).astype(np.float64),
        )
        for _ in range(20)
    ]
    ensemble = pack_trees(trees, baseline=-1.5, n_features=N, float32_inputs=False)
    return TreeEnsembleModel(
        ensemble,
        feature_names=SCHEMA.names,
        feature_schema_version=SCHEMA.version,
    )


@dataclass
class Deployment:
    """A registry, the ServingModel over it and a model service serving it on 127.0.0.1."""

    registry: LocalFsModelRegistry
    serving: ServingModel
    base_url: str


@contextmanager
def deploy(registry: LocalFsModelRegistry) -> Iterator[Deployment]:
    with (
        ServingModel(registry, schema=SCHEMA, poll_interval_s=POLL_S) as serving,
        BackgroundServer(create_model_server_app(serving)) as server,
    ):
        yield Deployment(registry, serving, server.base_url)


def registry_in(directory: Path) -> LocalFsModelRegistry:
    return LocalFsModelRegistry(directory, expected_schema_version=SCHEMA.version)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> LocalFsModelRegistry:
    """V1 (the default) and V2, two different small ensembles, in a file-system registry."""
    registry = registry_in(tmp_path_factory.mktemp("registry"))
    for seed in (1, 2):
        registry.register(
            small_model(seed), metrics={}, params={}, training_data_fingerprint=f"seed-{seed}"
        )
    return registry


@pytest.fixture(scope="module")
def models(registry: LocalFsModelRegistry) -> dict[str, ScoringModel]:
    """Each version as the registry loads it: the reference every client must match."""
    return {version: registry.load(version=version) for version in ("V1", "V2")}


@pytest.fixture(scope="module")
def deployment(registry: LocalFsModelRegistry) -> Iterator[Deployment]:
    with deploy(registry) as running:
        yield running


@pytest.fixture(scope="module")
def empty_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deploy(registry_in(tmp_path_factory.mktemp("empty"))) as running:
        yield running


ClientFactory = Callable[[Deployment], ModelClient]

CLIENTS: dict[str, ClientFactory] = {
    "inprocess": lambda d: InProcessModelClient(d.serving),
    "httpx": lambda d: HttpxModelClient(d.base_url, timeout_s=5.0, breaker_failures=1000),
    "httpx-stock": lambda d: HttpxModelClient(
        d.base_url, timeout_s=5.0, breaker_failures=1000, http_transport="httpx"
    ),
}


def _unreachable_httpx(http_transport: Literal["asyncio", "httpx"] = "asyncio") -> ModelClient:
    sock = bind_socket("127.0.0.1", 0)  # bound, never listening: connections are refused
    port = sock.getsockname()[1]
    sock.close()
    return HttpxModelClient(
        f"http://127.0.0.1:{port}", timeout_s=1.0, http_transport=http_transport
    )


UNREACHABLE: dict[str, Callable[[Deployment], ModelClient]] = {
    "inprocess": lambda empty: InProcessModelClient(empty.serving),
    "httpx": lambda _empty: _unreachable_httpx(),
    "httpx-stock": lambda _empty: _unreachable_httpx("httpx"),
}


@pytest.fixture(params=sorted(CLIENTS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(kind: str, deployment: Deployment) -> Callable[[], ModelClient]:
    return lambda: CLIENTS[kind](deployment)


@pytest.fixture
def rows() -> npt.NDArray[np.float64]:
    """Rows shaped like real features: small counts, flags, -1 'not applicable', some fractions."""
    rng = np.random.default_rng(11)
    return rng.integers(-1, 5, size=(25, N)).astype(np.float64) + rng.choice([0.0, 0.5], (25, N))


def vectors_of(
    matrix: npt.NDArray[np.float64], schema_version: str = SCHEMA.version
) -> list[FeatureVector]:
    return [FeatureVector(schema_version=schema_version, values=tuple(r)) for r in matrix.tolist()]


def call(client: ModelClient, vectors: list[FeatureVector], **kw: int) -> list[ModelPrediction]:
    async def go() -> list[ModelPrediction]:
        try:
            return await client.predict(vectors, **kw)
        finally:
            await client.aclose()

    return asyncio.run(go())


def assert_same(got: list[ModelPrediction], want: list[ModelPrediction]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.probability == pytest.approx(w.probability, abs=1e-12)
        assert g.raw_score == pytest.approx(w.raw_score, abs=1e-12)
        assert [r.feature for r in g.reason_codes] == [r.feature for r in w.reason_codes]
        assert [r.contribution for r in g.reason_codes] == pytest.approx(
            [r.contribution for r in w.reason_codes], abs=1e-12
        )
        assert [r.value for r in g.reason_codes] == [r.value for r in w.reason_codes]
        assert g.model == w.model


def test_a_batch_scores_exactly_as_the_model_does(
    make_client: Callable[[], ModelClient],
    models: dict[str, ScoringModel],
    rows: npt.NDArray[np.float64],
) -> None:
    got = call(make_client(), vectors_of(rows))
    want = models["V1"].predict(rows, explain=3)
    assert_same(got, want)
    assert len({round(p.probability, 6) for p in got}) > 5  # the rows really differ
    assert all(len(p.reason_codes) == 3 for p in got)


def test_one_row(
    make_client: Callable[[], ModelClient],
    models: dict[str, ScoringModel],
    rows: npt.NDArray[np.float64],
) -> None:
    assert_same(call(make_client(), vectors_of(rows[:1])), models["V1"].predict(rows[:1]))


@pytest.mark.parametrize("explain", [0, 1, 7])
def test_explain_sets_the_number_of_reason_codes(
    make_client: Callable[[], ModelClient],
    models: dict[str, ScoringModel],
    rows: npt.NDArray[np.float64],
    explain: int,
) -> None:
    got = call(make_client(), vectors_of(rows[:3]), explain=explain)
    assert_same(got, models["V1"].predict(rows[:3], explain=explain))
    assert all(len(p.reason_codes) == explain for p in got)


def test_no_vectors_no_predictions(make_client: Callable[[], ModelClient]) -> None:
    assert call(make_client(), []) == []


def test_another_feature_schema_is_an_input_error(
    make_client: Callable[[], ModelClient], rows: npt.NDArray[np.float64]
) -> None:
    with pytest.raises(ModelInputError, match="schema version"):
        call(make_client(), vectors_of(rows[:2], schema_version="0123456789abcdef"))


def test_a_wrong_feature_count_is_an_input_error(make_client: Callable[[], ModelClient]) -> None:
    short = FeatureVector(schema_version=SCHEMA.version, values=(1.0,) * (N - 1))
    with pytest.raises(ModelInputError):
        call(make_client(), [short])


def test_ready_when_a_model_is_loaded(make_client: Callable[[], ModelClient]) -> None:
    client = make_client()

    async def go() -> bool:
        try:
            return await client.ready()
        finally:
            await client.aclose()

    assert asyncio.run(go()) is True


def test_without_a_reachable_model_unavailable_and_not_ready(
    kind: str, empty_deployment: Deployment, rows: npt.NDArray[np.float64]
) -> None:
    client = UNREACHABLE[kind](empty_deployment)

    async def go() -> tuple[bool, ModelUnavailable | None]:
        try:
            await client.predict(vectors_of(rows[:1]))
        except ModelUnavailable as exc:
            return await client.ready(), exc
        finally:
            await client.aclose()
        return True, None

    ready, error = asyncio.run(go())
    assert ready is False
    assert error is not None
    assert error.retry_after_s > 0


def test_the_http_client_sees_no_model_as_unavailable(
    empty_deployment: Deployment, rows: npt.NDArray[np.float64]
) -> None:
    """A service that is up but has no model answers 503: the client maps it to ModelUnavailable."""
    with pytest.raises(ModelUnavailable, match="no model is loaded"):
        call(HttpxModelClient(empty_deployment.base_url), vectors_of(rows[:1]))


def test_promote_and_rollback_under_load_fail_no_request(
    make_client: Callable[[], ModelClient],
    deployment: Deployment,
    models: dict[str, ScoringModel],
    rows: npt.NDArray[np.float64],
) -> None:
    """Requests flow continuously from 4 concurrent callers while V2 is promoted, then V1 restored."""
    batch = vectors_of(rows[:5])
    want = {v: m.predict(rows[:5]) for v, m in models.items()}
    client = make_client()
    errors: list[BaseException] = []
    seen: list[str] = []

    async def caller(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                predictions = await client.predict(batch)
            except Exception as exc:
                errors.append(exc)
                continue
            version = predictions[0].model.version
            assert {p.model.version for p in predictions} == {version}  # one model per request
            assert_same(predictions, want[version])
            seen.append(version)
            await asyncio.sleep(0)  # the in-process client never yields on its own

    async def until(version: str) -> None:
        while deployment.serving.version != version:
            await asyncio.sleep(POLL_S / 2)
        mark = len(seen)
        while len(seen) < mark + 20:  # the new model is answering
            await asyncio.sleep(0)

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(caller(stop)) for _ in range(4)]
        try:
            await asyncio.sleep(0.05)
            await asyncio.to_thread(deployment.registry.promote, "V2")
            await asyncio.wait_for(until("V2"), 10)
            assert await asyncio.to_thread(deployment.registry.rollback) == "V1"
            await asyncio.wait_for(until("V1"), 10)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await client.aclose()

    assert deployment.serving.version == "V1"
    asyncio.run(scenario())
    assert errors == []
    assert seen[0] == "V1"
    assert seen[-1] == "V1"
    assert "V2" in seen
    switches = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert switches >= 2
