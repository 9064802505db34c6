"""Train, evaluate, compile and register the evidence risk model.

Pipeline: synthetic applications (generated on the fly, or read from a ``riskscore generate``
directory) -> ``LxmlEvidenceParser`` -> ``extract_values(evidence, as_of=application.as_of)`` -> a
float64 matrix in ``SCHEMA`` order -> a stratified train/test split -> a scikit-learn booster ->
held-out metrics -> ``compile_estimator`` -> a parity check of the compiled model against
scikit-learn on the held-out rows -> ``registry.register``.

Building features is the slow part (generation and XML parsing are pure Python, ~0.45 ms each per
application), so it runs in a process pool of ``workers`` processes over chunks of
``CHUNK_APPLICATIONS``; for generated data each worker generates its own chunk (application *i*
depends only on ``(seed, i, as_of)``), so nothing but feature rows crosses process boundaries.

Defaults and why (measured with ``python -m riskscore.adapters.treemodel.sweep``, see docs/model.md):
``hgb`` is the default algorithm; ``gbm`` (``GradientBoostingClassifier``) is kept for comparison and
is far slower to fit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from riskscore.adapters.parent_watch import watch_parent
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.adapters.treemodel.sklearn_compiler import compile_estimator
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.ports.model_registry import DEFAULT_MODEL_NAME, ModelVersionInfo

Algorithm = Literal["hgb", "gbm"]
ALGORITHMS: tuple[Algorithm, ...] = ("hgb", "gbm")

DEFAULT_PARAMS: dict[Algorithm, dict[str, Any]] = {
    # 100 depth-3 trees: held-out AUC as good as any larger setting measured (docs/model.md), and
    # small trees keep the predictor fast and the reason codes short (3 splits per tree).
    "hgb": {
        "max_iter": 100,
        "learning_rate": 0.1,
        "max_leaf_nodes": 8,
        "max_depth": 3,
        "min_samples_leaf": 40,
        "l2_regularization": 1.0,
        "early_stopping": False,
    },
    # The same shape for the classic booster, for comparison (fits far slower).
    "gbm": {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3, "subsample": 0.8},
}

CHUNK_APPLICATIONS = 1000
TEST_FRACTION = 0.25
PARITY_TOLERANCE = 1e-9
"""Largest allowed |compiled - scikit-learn| probability on the held-out rows before registering."""


class TrainingError(Exception):
    """Training could not produce a model (bad data, a parity failure, an unknown algorithm)."""


class WritableRegistry(Protocol):
    """The write side training needs: ``LocalFsModelRegistry`` and ``InMemoryModelRegistry``."""

    def register(
        self,
        model: TreeEnsembleModel,
        *,
        metrics: dict[str, float],
        params: dict[str, str],
        training_data_fingerprint: str,
        name: str = ...,
        library_versions: dict[str, str] | None = ...,
        estimator: object | None = ...,
    ) -> ModelVersionInfo: ...

    def promote(self, version: str, name: str = ...) -> None: ...


@dataclass(frozen=True, slots=True)
class TrainingData:
    """A feature matrix in ``SCHEMA`` order with labels and where it came from."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int8]
    source: dict[str, str]
    feature_seconds: float

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the schema version, the matrix bytes and the labels: equal data, equal hash."""
        digest = hashlib.sha256()
        digest.update(SCHEMA.version.encode())
        digest.update(np.ascontiguousarray(self.x).tobytes())
        digest.update(np.ascontiguousarray(self.y).tobytes())
        return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class TrainingResult:
    model: TreeEnsembleModel
    estimator: Any
    metrics: dict[str, float]
    params: dict[str, str]
    library_versions: dict[str, str] = field(default_factory=dict)


# -- features -------------------------------------------------------------------------------------
def _rows(apps: Iterable[Any]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Parse and extract one chunk of applications (runs in a worker process)."""
    from riskscore.adapters.lxml import LxmlEvidenceParser
    from riskscore.domain.features.extract import extract_values
    from riskscore.ports.evidence_parser import EvidenceError

    parser = LxmlEvidenceParser()
    rows: list[list[float]] = []
    labels: list[int] = []
    for app in apps:
        try:
            evidence = parser.parse(app.policy_number, app.mib_xml, app.rx_xml)
        except EvidenceError as exc:
            # The message never quotes document content (EvidenceError's contract).
            raise TrainingError(f"{app.policy_number}: {exc}") from None
        rows.append(extract_values(evidence, app.as_of))
        labels.append(int(app.label))
    x = np.array(rows, dtype=np.float64).reshape(len(rows), len(SCHEMA))
    return x, np.array(labels, dtype=np.int8)


def _generated_chunk(
    seed: int, start: int, count: int, as_of: dt.date | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    from riskscore.adapters.synthetic import generate

    return _rows(generate(count, seed, as_of=as_of, start=start))


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _run_chunks(
    tasks: Iterator[tuple[Any, ...]], fn: Any, workers: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    parts: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]]
    if workers <= 1:
        parts = [fn(*task) for task in tasks]
    else:
        # spawn: workers start clean (no inherited threads or locks from the caller). They watch
        # this process: killed outright, it cannot stop them, and they waited for work forever.
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=watch_parent,
            initargs=(os.getpid(),),
        ) as pool:
            parts = list(pool.map(fn, *zip(*tasks, strict=True)))
    if not parts:
        raise TrainingError("no applications to train on")
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def generated_training_data(
    n: int, seed: int, *, as_of: dt.date | None = None, workers: int | None = None
) -> TrainingData:
    """Generate ``n`` synthetic applications of dataset ``seed`` and compute their features."""
    from riskscore.adapters.synthetic import DEFAULT_AS_OF, GENERATOR_VERSION

    if n < 2:
        raise TrainingError(f"need at least 2 applications, got {n}")
    started = time.perf_counter()
    tasks = (
        (seed, start, min(CHUNK_APPLICATIONS, n - start), as_of)
        for start in range(0, n, CHUNK_APPLICATIONS)
    )
    x, y = _run_chunks(tasks, _generated_chunk, workers or default_workers())
    day = DEFAULT_AS_OF if as_of is None else as_of
    source = {
        "source": "generated",
        "generator_version": GENERATOR_VERSION,
        "n": str(n),
        "seed": str(seed),
        "as_of": day.isoformat(),
    }
    return TrainingData(x=x, y=y, source=source, feature_seconds=time.perf_counter() - started)


def dataset_training_data(directory: Path, *, workers: int | None = None) -> TrainingData:
    """Read a ``riskscore generate`` directory and compute its features."""
    from riskscore.adapters.synthetic import DatasetError, Manifest, read_dataset

    started = time.perf_counter()

    def chunks() -> Iterator[tuple[list[Any]]]:
        chunk: list[Any] = []
        for app in read_dataset(directory):
            chunk.append(app)
            if len(chunk) == CHUNK_APPLICATIONS:
                yield (chunk,)
                chunk = []
        if chunk:
            yield (chunk,)

    try:
        x, y = _run_chunks(chunks(), _rows, workers or default_workers())
    except DatasetError as exc:
        raise TrainingError(f"cannot read the dataset: {exc}") from exc
    source = {"source": "dataset", "path": str(directory)}
    try:
        import msgspec

        manifest = msgspec.json.decode((directory / "manifest.json").read_bytes(), type=Manifest)
        source |= {
            "generator_version": manifest.generator_version,
            "n": str(manifest.n),
            "seed": str(manifest.seed),
            "as_of": manifest.as_of.isoformat(),
        }
    except (OSError, ValueError):
        pass  # read_dataset accepted it; the manifest only adds lineage
    return TrainingData(x=x, y=y, source=source, feature_seconds=time.perf_counter() - started)


# -- fitting and evaluation -----------------------------------------------------------------------
def make_estimator(algorithm: Algorithm, params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

    if algorithm == "hgb":
        return HistGradientBoostingClassifier(random_state=seed, **params)
    if algorithm == "gbm":
        return GradientBoostingClassifier(random_state=seed, **params)
    raise TrainingError(f"unknown algorithm {algorithm!r}; choose one of {ALGORITHMS}")


def fit(estimator: Any, x: npt.NDArray[np.float64], y: npt.NDArray[np.int8]) -> Any:
    """Fit on one OpenMP thread: on a shared 2-core machine, HGB's OpenMP threads spinning against
    other processes made the default fit 4-13x slower (0.9 s on one thread vs 4-13 s measured)."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1):
        return estimator.fit(x, y)


def expected_calibration_error(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, *, bins: int = 10
) -> float:
    """Sum over ``bins`` equal-width probability bins of |mean label - mean probability| x share."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    if y.shape != p.shape or y.size == 0:
        raise ValueError("labels and probabilities must be non-empty and equally long")
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    label_sum = np.bincount(which, weights=y, minlength=bins)
    proba_sum = np.bincount(which, weights=p, minlength=bins)
    return float(np.abs(label_sum - proba_sum).sum() / y.size)


def evaluate(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> dict[str, float]:
    """Held-out ROC AUC, log loss, Brier score and 10-bin expected calibration error."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if len(np.unique(y)) < 2:
        raise TrainingError("the held-out set holds a single class; use more applications")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece_10": expected_calibration_error(y, p),
        "positive_rate": float(np.mean(y)),
        "mean_probability": float(np.mean(p)),
    }


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "riskscore"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    return versions


def train(
    data: TrainingData,
    *,
    algorithm: Algorithm = "hgb",
    params: dict[str, Any] | None = None,
    seed: int = 7,
    test_fraction: float = TEST_FRACTION,
) -> TrainingResult:
    """Fit on a stratified split of ``data``, evaluate on the rest, compile and parity-check."""
    from sklearn.model_selection import train_test_split

    if algorithm not in ALGORITHMS:
        raise TrainingError(f"unknown algorithm {algorithm!r}; choose one of {ALGORITHMS}")
    chosen = dict(DEFAULT_PARAMS[algorithm] if params is None else params)
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            data.x, data.y, test_size=test_fraction, random_state=seed, stratify=data.y
        )
    except ValueError as exc:
        raise TrainingError(f"cannot split the data: {exc}") from exc
    estimator = make_estimator(algorithm, chosen, seed)
    started = time.perf_counter()
    fit(estimator, x_train, y_train)
    fit_seconds = time.perf_counter() - started
    reference = estimator.predict_proba(x_test)[:, 1]
    model = TreeEnsembleModel(
        compile_estimator(estimator),
        feature_names=SCHEMA.names,
        feature_schema_version=SCHEMA.version,
    )
    parity = float(np.max(np.abs(model.predict_proba(x_test) - reference)))
    if not parity < PARITY_TOLERANCE:
        raise TrainingError(
            f"compiled model disagrees with scikit-learn by {parity:.3g} > {PARITY_TOLERANCE}"
        )
    metrics = evaluate(y_test, reference)
    metrics |= {
        "n_train": float(len(y_train)),
        "n_test": float(len(y_test)),
        "fit_seconds": fit_seconds,
        "feature_seconds": data.feature_seconds,
        "parity_max_abs_diff": parity,
        "n_trees": float(model.ensemble.n_trees),
        "n_leaves": float(model.ensemble.n_leaves),
    }
    recorded = {
        "algorithm": algorithm,
        "estimator": type(estimator).__name__,
        "seed": str(seed),
        "test_fraction": str(test_fraction),
        **{f"data_{k}": v for k, v in data.source.items()},
        **{k: str(v) for k, v in sorted(chosen.items())},
    }
    return TrainingResult(
        model=model,
        estimator=estimator,
        metrics=metrics,
        params=recorded,
        library_versions=library_versions(),
    )


def train_and_register(
    registry: WritableRegistry,
    data: TrainingData,
    *,
    algorithm: Algorithm = "hgb",
    params: dict[str, Any] | None = None,
    seed: int = 7,
    promote: bool = False,
    name: str = DEFAULT_MODEL_NAME,
) -> tuple[ModelVersionInfo, TrainingResult]:
    """Train and register the next version; with ``promote`` make it the default too."""
    result = train(data, algorithm=algorithm, params=params, seed=seed)
    info = registry.register(
        result.model,
        metrics=result.metrics,
        params=result.params,
        training_data_fingerprint=data.fingerprint,
        name=name,
        library_versions=result.library_versions,
        estimator=result.estimator,
    )
    if promote and not info.is_default:
        registry.promote(info.version, name=name)
        info = _as_default(info)
    return info, result


def _as_default(info: ModelVersionInfo) -> ModelVersionInfo:
    import msgspec

    return msgspec.structs.replace(info, is_default=True)
