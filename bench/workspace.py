"""The run's scratch directory: applications, a trained and registered model, request bodies.

Everything lives under ``bench/results/work/run-<time>/`` (git-ignored):

- ``riskscore/registry``: a file-system model registry holding one promoted version, trained by
  ``riskscore.adapters.treemodel.training`` on generated applications (dataset seed 1). Each riskscore
  server gets a copy of this data directory so their journals and SQLite files never mix.
- ``estimator.joblib``: the scikit-learn estimator behind that version, for the peers (the seed model
  service and MLflow load this file).
- ``score.jsonl``: ``POST /v1/score`` bodies, one per line, for generated applications of another seed
  (dataset seed 2, so none was trained on), each with its explicit ``as_of``.
- ``proba-1.jsonl`` / ``proba-100.jsonl``: model-service bodies (``dataframe_split`` with the feature
  names) of one and of 100 feature rows of those applications; ``proba-100-explain0.jsonl`` the same
  100-row bodies asking riskscore for no reason codes.

The reference scores (``reference``) are computed here, in process: riskscore's parser and feature
extraction, then the estimator's ``predict_proba``. Every system is checked against them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt

from riskscore.adapters.lxml import LxmlEvidenceParser
from riskscore.adapters.synthetic import SyntheticApplication, generate
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.extract import extract_values

WORK = Path(__file__).resolve().parent / "results" / "work"
TRAIN_SEED = 1
BENCH_SEED = 2


@dataclass(frozen=True)
class Workspace:
    root: Path
    data_dir: Path
    estimator_path: Path
    estimator: Any
    model: Any
    """riskscore's compiled ``TreeEnsembleModel`` of the same version."""
    model_info: dict[str, object]
    apps: list[SyntheticApplication]
    features: npt.NDArray[np.float64]
    reference: npt.NDArray[np.float64]
    score_bodies: Path
    proba_bodies_1: Path
    proba_bodies_100: Path
    proba_bodies_100_no_reasons: Path
    """The 100-row bodies with ``"params": {"explain": 0}``: riskscore without reason codes."""
    setup_seconds: float

    def reference_by_policy(self, n: int) -> dict[str, float]:
        return {
            app.policy_number: float(p)
            for app, p in zip(self.apps[:n], self.reference[:n], strict=True)
        }

    def riskscore_data_dir(self, name: str) -> Path:
        """A fresh data directory for one riskscore server: a copy of the registry, nothing else."""
        target = self.root / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copytree(self.data_dir / "registry", target / "registry")
        return target


def feature_matrix(apps: list[SyntheticApplication]) -> npt.NDArray[np.float64]:
    parser = LxmlEvidenceParser()
    rows = [
        extract_values(parser.parse(a.policy_number, a.mib_xml, a.rx_xml), a.as_of) for a in apps
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(apps), len(SCHEMA))


def score_body(app: SyntheticApplication) -> dict[str, str]:
    return {
        "policy_number": app.policy_number,
        "mib_xml": app.mib_xml,
        "rx_xml": app.rx_xml,
        "as_of": app.as_of.isoformat(),
    }


def proba_body(rows: npt.NDArray[np.float64]) -> dict[str, object]:
    """The request shape both model services accept: ``dataframe_split`` with column names."""
    return {"dataframe_split": {"columns": list(SCHEMA.names), "data": rows.tolist()}}


def write_jsonl(path: Path, docs: list[Any]) -> Path:
    with path.open("w") as out:
        for doc in docs:
            out.write(json.dumps(doc, separators=(",", ":")) + "\n")
    return path


def new_root(base: Path = WORK) -> Path:
    root = base / f"run-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    root.mkdir(parents=True, exist_ok=True)
    return root


TYPICAL_FILLS = (20, 60)
"""Issues 2 and 6 define a typical application as one with about 20-60 Rx fills; most generated
applicants have few or none (median 4), so the benchmark keeps only those in this range."""

_FILL_TAG = re.compile(r"<(?:[\w.-]+:)?drugfill[\s/>]", re.IGNORECASE)


def fill_count(app: SyntheticApplication) -> int:
    return len(_FILL_TAG.findall(app.rx_xml))


def typical_applications(n: int, seed: int = BENCH_SEED) -> list[SyntheticApplication]:
    """The first ``n`` generated applications (in generator order) with 20-60 fills."""
    low, high = TYPICAL_FILLS
    chosen: list[SyntheticApplication] = []
    for app in generate(n * 20, seed):
        if low <= fill_count(app) <= high:
            chosen.append(app)
            if len(chosen) == n:
                return chosen
    raise RuntimeError(f"the generator gave fewer than {n} applications with {low}-{high} fills")


def prepare(root: Path, *, n_train: int, n_apps: int, workers: int | None = None) -> Workspace:
    """Generate, train, register and write the request bodies (about 10-30 s)."""
    from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
    from riskscore.adapters.treemodel.training import generated_training_data, train_and_register

    started = time.perf_counter()
    data_dir = root / "riskscore"
    registry = LocalFsModelRegistry(data_dir / "registry", expected_schema_version=SCHEMA.version)
    data = generated_training_data(n_train, TRAIN_SEED, workers=workers)
    info, result = train_and_register(registry, data, promote=True)
    estimator_path = root / "estimator.joblib"
    joblib.dump(result.estimator, estimator_path)

    apps = typical_applications(n_apps)
    features = feature_matrix(apps)
    reference = np.asarray(result.estimator.predict_proba(features)[:, 1], dtype=np.float64)
    hundred = [features[i : i + 100] for i in range(0, len(features) - 99, 100)]
    return Workspace(
        root=root,
        data_dir=data_dir,
        estimator_path=estimator_path,
        estimator=result.estimator,
        model=result.model,
        model_info={
            "name": info.name,
            "version": info.version,
            "estimator": type(result.estimator).__name__,
            "trees": int(result.model.ensemble.n_trees),
            "leaves": int(result.model.ensemble.n_leaves),
            "features": len(SCHEMA),
            "trained_on": n_train,
            "roc_auc": round(result.metrics.get("roc_auc", float("nan")), 4),
        },
        apps=apps,
        features=features,
        reference=reference,
        score_bodies=write_jsonl(root / "score.jsonl", [score_body(a) for a in apps]),
        proba_bodies_1=write_jsonl(
            root / "proba-1.jsonl", [proba_body(features[i : i + 1]) for i in range(len(apps))]
        ),
        proba_bodies_100=write_jsonl(root / "proba-100.jsonl", [proba_body(h) for h in hundred]),
        proba_bodies_100_no_reasons=write_jsonl(
            root / "proba-100-explain0.jsonl",
            [proba_body(h) | {"params": {"explain": 0}} for h in hundred],
        ),
        setup_seconds=time.perf_counter() - started,
    )
