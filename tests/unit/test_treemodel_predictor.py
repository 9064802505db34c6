"""``TreeEnsembleModel``: the ScoringModel contract, reason codes, persistence without pickle."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from riskscore.adapters.treemodel.ensemble import EnsembleFormatError, pack_trees
from riskscore.adapters.treemodel.predictor import CHUNK_ROWS, TreeEnsembleModel
from riskscore.adapters.treemodel.sklearn_compiler import compile_estimator
from riskscore.adapters.treemodel.toy import leaf_tree, one_split_model
from riskscore.domain.scoring import ModelRef
from riskscore.ports.model_registry import InvalidFeatureMatrix, ScoringModel

NAMES = [f"feature_{i}" for i in range(10)]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """OpenMP fitting threads crawl on a busy 2-core machine; one thread is faster and steady."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def fitted() -> tuple[HistGradientBoostingClassifier, TreeEnsembleModel, np.ndarray]:
    x, y = make_classification(2500, 10, n_informative=5, random_state=11)
    x[np.random.default_rng(0).random(x.shape) < 0.05] = np.nan
    est = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=16, random_state=0)
    est.fit(x[:2000], y[:2000])
    model = TreeEnsembleModel(
        compile_estimator(est),
        feature_names=NAMES,
        feature_schema_version="schema-1",
        ref=ModelRef(name="EVIDENCE_RISK_MODEL", version="V3"),
    )
    return est, model, x[2000:]


def test_is_a_scoring_model(fitted: tuple[object, TreeEnsembleModel, np.ndarray]) -> None:
    _, model, _ = fitted
    assert isinstance(model, ScoringModel)
    assert model.ref == ModelRef(name="EVIDENCE_RISK_MODEL", version="V3")
    assert model.feature_schema_version == "schema-1"


def test_predict_matches_sklearn_and_explains(
    fitted: tuple[HistGradientBoostingClassifier, TreeEnsembleModel, np.ndarray],
) -> None:
    est, model, held_out = fitted
    rows = held_out[: 3 * CHUNK_ROWS + 5]  # several chunks and a ragged tail
    predictions = model.predict(rows, explain=4)
    expected = est.predict_proba(rows)[:, 1]
    contributions, raw = model.contributions(rows)
    assert len(predictions) == len(rows)
    for i, p in enumerate(predictions):
        assert p.probability == pytest.approx(expected[i], abs=1e-9)
        assert p.raw_score == pytest.approx(raw[i], abs=1e-12)
        assert p.model == model.ref
        codes = p.reason_codes
        assert len(codes) == 4
        values = [c.contribution for c in codes]
        assert values == sorted(values, reverse=True)
        # The k largest contributions of the row, with the row's own feature values.
        assert values == pytest.approx(sorted(contributions[i], reverse=True)[:4], abs=1e-12)
        for code in codes:
            j = NAMES.index(code.feature)
            assert code.contribution == pytest.approx(contributions[i, j], abs=1e-12)
            if np.isnan(rows[i, j]):
                assert code.value is None
            else:
                assert code.value == rows[i, j]


def test_single_row_equals_its_batch_row(
    fitted: tuple[object, TreeEnsembleModel, np.ndarray],
) -> None:
    _, model, held_out = fitted
    batch = model.predict(held_out[:50], explain=3)
    for i in range(50):
        [one] = model.predict(held_out[i : i + 1], explain=3)
        assert one.probability == pytest.approx(batch[i].probability, abs=1e-15)
        assert [c.feature for c in one.reason_codes] == [c.feature for c in batch[i].reason_codes]


def test_explain_zero_and_more_codes_than_features(
    fitted: tuple[object, TreeEnsembleModel, np.ndarray],
) -> None:
    _, model, held_out = fitted
    [bare] = model.predict(held_out[:1], explain=0)
    assert bare.reason_codes == ()
    assert bare.probability == pytest.approx(model.predict_proba(held_out[:1])[0], abs=1e-15)
    [everything] = model.predict(held_out[:1], explain=50)
    assert sorted(c.feature for c in everything.reason_codes) == sorted(NAMES)


def test_ties_break_by_schema_order() -> None:
    model = TreeEnsembleModel(
        pack_trees([leaf_tree(0.1)], baseline=0.0, n_features=3, float32_inputs=False),
        feature_names=["c", "a", "b"],
        feature_schema_version="t",
    )
    [p] = model.predict(np.zeros((1, 3)), explain=2)
    assert [c.feature for c in p.reason_codes] == ["c", "a"]
    assert [c.contribution for c in p.reason_codes] == [0.0, 0.0]


def test_extreme_scores_give_probabilities_in_range() -> None:
    model = one_split_model(-800.0, 800.0, feature_names=["a"], threshold=0.0)
    assert model.predict_proba(np.array([[-1.0], [1.0]])).tolist() == [0.0, 1.0]
    assert [p.probability for p in model.predict(np.array([[-1.0], [1.0]]))] == [0.0, 1.0]
    assert model.predict(np.array([[-1.0]]))[0].probability == 0.0


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 9)), np.zeros(10), np.zeros((1, 2, 10)), [["x"] * 10]],
    ids=["columns", "1-d", "3-d", "text"],
)
def test_bad_matrices_are_refused(
    fitted: tuple[object, TreeEnsembleModel, np.ndarray], bad: object
) -> None:
    _, model, _ = fitted
    with pytest.raises(InvalidFeatureMatrix):
        model.predict(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidFeatureMatrix):
        model.predict_proba(bad)  # type: ignore[arg-type]


def test_empty_batch(fitted: tuple[object, TreeEnsembleModel, np.ndarray]) -> None:
    _, model, _ = fitted
    assert model.predict(np.zeros((0, 10))) == []
    assert model.predict_proba(np.zeros((0, 10))).shape == (0,)


def test_save_and_load_round_trip_without_pickle(
    fitted: tuple[object, TreeEnsembleModel, np.ndarray], tmp_path: Path
) -> None:
    _, model, held_out = fitted
    path = tmp_path / "model.npz"
    model.save(path)
    with zipfile.ZipFile(path) as archive:  # every member is a plain .npy array, no object arrays
        for member in archive.namelist():
            with archive.open(member) as fh:
                header = fh.read(128)
            assert b"'O'" not in header
            assert b"|O" not in header
    loaded = TreeEnsembleModel.load(path, ref=ModelRef(name="EVIDENCE_RISK_MODEL", version="V9"))
    assert loaded.ref.version == "V9"
    assert loaded.feature_names == tuple(NAMES)
    assert loaded.feature_schema_version == "schema-1"
    np.testing.assert_array_equal(loaded.predict_proba(held_out), model.predict_proba(held_out))


def test_corrupt_files_raise_format_errors(
    fitted: tuple[object, TreeEnsembleModel, np.ndarray], tmp_path: Path
) -> None:
    _, model, _ = fitted
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(EnsembleFormatError):
        TreeEnsembleModel.load(garbage)
    good = tmp_path / "good.npz"
    model.save(good)
    arrays = dict(np.load(good))
    arrays["node_feature"] = arrays["node_feature"] + 100  # indexes past the feature count
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    with pytest.raises(EnsembleFormatError, match="out of range"):
        TreeEnsembleModel.load(broken)
    del arrays["leaf_value"]
    missing = tmp_path / "missing.npz"
    np.savez(missing, **arrays)
    with pytest.raises(EnsembleFormatError, match="leaf_value"):
        TreeEnsembleModel.load(missing)


def test_with_ref_relabels_predictions(
    fitted: tuple[object, TreeEnsembleModel, np.ndarray],
) -> None:
    _, model, held_out = fitted
    renamed = model.with_ref(ModelRef(name="OTHER", version="V1"))
    assert renamed.predict(held_out[:1])[0].model == ModelRef(name="OTHER", version="V1")
    assert model.ref.version == "V3"
