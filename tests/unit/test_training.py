"""Training on generated evidence: metrics, lineage, registration, and a model that really learned.

The AUC threshold: docs/synthetic-data.md puts the generator's Bayes-optimal AUC at 0.829 and an
evidence-only model near 0.755 with 20,000 training rows (age, sex, smoking and frailty never reach
the documents). With ~400 positives in 4,000 independent held-out rows the AUC's sampling SD is about
0.015, so a real model clears 0.70 by three SDs, while a model that learned nothing scores ~0.5: the
same pipeline trained on shuffled labels must fail the same threshold. The threshold is checked on
an independent generated set (another seed), not on ``train``'s own 25% split: with 8,000 training
rows that split holds only ~190 positives (SD ~0.02).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from riskscore.adapters.memory.model_registry import InMemoryModelRegistry
from riskscore.adapters.synthetic import write_dataset
from riskscore.adapters.treemodel.training import (
    PARITY_TOLERANCE,
    TrainingData,
    TrainingError,
    dataset_training_data,
    evaluate,
    expected_calibration_error,
    generated_training_data,
    train,
    train_and_register,
)
from riskscore.domain.features.catalogue import SCHEMA

AUC_THRESHOLD = 0.70


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def small() -> TrainingData:
    return generated_training_data(600, 3, workers=1)


def test_expected_calibration_error_by_hand() -> None:
    # Bin 2 holds p=0.25 with label 0, bin 7 p=0.75 with label 1: |0-0.25|/2 + |1-0.75|/2.
    assert expected_calibration_error([0, 1], [0.25, 0.75]) == pytest.approx(0.25)
    # A bin whose mean probability equals its label rate contributes nothing.
    assert expected_calibration_error([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0)
    assert expected_calibration_error([1], [1.0]) == pytest.approx(0.0)  # p=1 falls in the last bin
    with pytest.raises(ValueError):
        expected_calibration_error([0, 1], [0.5])


def test_evaluate_reports_every_metric() -> None:
    metrics = evaluate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert metrics["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert set(metrics) >= {"roc_auc", "log_loss", "brier", "ece_10"}
    with pytest.raises(TrainingError, match="single class"):
        evaluate([0, 0], [0.1, 0.2])


def test_feature_matrix_follows_the_schema_and_is_fingerprinted(small: TrainingData) -> None:
    assert small.x.shape == (600, len(SCHEMA))
    assert set(np.unique(small.y).tolist()) == {0, 1}
    assert small.source["seed"] == "3"
    again = generated_training_data(600, 3, workers=2)  # the process pool gives the same rows
    np.testing.assert_array_equal(again.x, small.x)
    assert again.fingerprint == small.fingerprint
    assert generated_training_data(600, 4, workers=1).fingerprint != small.fingerprint


def test_a_dataset_directory_gives_the_same_rows(small: TrainingData, tmp_path: Path) -> None:
    write_dataset(tmp_path / "ds", 600, 3)
    from_dir = dataset_training_data(tmp_path / "ds", workers=1)
    np.testing.assert_array_equal(from_dir.x, small.x)
    np.testing.assert_array_equal(from_dir.y, small.y)
    assert from_dir.source["source"] == "dataset"
    assert from_dir.source["n"] == "600"


def test_a_broken_document_names_its_policy_not_its_content(tmp_path: Path) -> None:
    out = write_dataset(tmp_path / "ds", 20, 1)
    (out / "rx" / "SYN-0000007.xml").write_text("<IntelRXResponse><DrugFill>")
    with pytest.raises(TrainingError, match="SYN-0000007") as refused:
        dataset_training_data(out, workers=1)
    assert "DrugFill" not in str(refused.value)


@pytest.mark.parametrize("algorithm", ["hgb", "gbm"])
def test_train_and_register_records_lineage(small: TrainingData, algorithm: str) -> None:
    registry = InMemoryModelRegistry(expected_schema_version=SCHEMA.version)
    info, result = train_and_register(registry, small, algorithm=algorithm, seed=1)  # type: ignore[arg-type]
    assert (info.version, info.is_default) == ("V1", True)
    assert info.feature_schema_version == SCHEMA.version
    assert info.training_data_fingerprint == small.fingerprint
    assert info.params["algorithm"] == algorithm
    assert info.params["data_seed"] == "3"
    assert info.params["data_generator_version"]
    assert {"numpy", "scikit-learn", "python"} <= set(info.library_versions)
    assert info.metrics["parity_max_abs_diff"] < PARITY_TOLERANCE
    assert info.metrics["n_train"] + info.metrics["n_test"] == 600
    loaded = registry.load()
    assert loaded.ref.version == "V1"
    np.testing.assert_allclose(
        loaded.predict_proba(small.x), result.estimator.predict_proba(small.x)[:, 1], atol=1e-9
    )
    second, _ = train_and_register(registry, small, algorithm=algorithm, seed=2)  # type: ignore[arg-type]
    assert (second.version, second.is_default) == ("V2", False)
    third, _ = train_and_register(registry, small, algorithm=algorithm, seed=3, promote=True)  # type: ignore[arg-type]
    assert (third.version, third.is_default) == ("V3", True)
    assert registry.default_version() == "V3"


def test_unknown_algorithms_and_tiny_data_are_training_errors(small: TrainingData) -> None:
    with pytest.raises(TrainingError, match="algorithm"):
        train(small, algorithm="forest")  # type: ignore[arg-type]
    with pytest.raises(TrainingError):
        generated_training_data(1, 1, workers=1)


@pytest.mark.slow
def test_the_model_learns_the_evidence_and_a_shuffled_one_does_not() -> None:
    data = generated_training_data(8000, 7)
    test = generated_training_data(4000, 8, workers=1)
    learned = train(data, seed=7)
    # Measured: 0.746 on these 4,000 rows (377 positives); the shuffled-label model 0.45.
    independent = roc_auc_score(test.y, learned.model.predict_proba(test.x))
    assert independent >= AUC_THRESHOLD

    shuffled = TrainingData(
        x=data.x,
        y=np.random.default_rng(0).permutation(data.y),
        source=data.source,
        feature_seconds=0.0,
    )
    guessed = train(shuffled, seed=7)
    assert roc_auc_score(test.y, guessed.model.predict_proba(test.x)) < AUC_THRESHOLD
