"""The byte-wise leaf lookup (``ByteLeaves``) reaches the leaves QuickScorer reaches, for any tree shape.

Random ensembles mixing single leaves, stumps, and trees of up to 64 leaves (one to eight bytes of
node slots per tree), scored on rows holding NaN, infinities, signed zeros and values equal to
thresholds, against ``TreeEnsembleModel._quickscorer_leaves``; and the predictor's batch answers
with the byte layout against the same model with it switched off, bit for bit.
"""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from tree_support import random_tree

from riskscore.adapters.treemodel.bytewise import ByteLeaves
from riskscore.adapters.treemodel.ensemble import pack_trees
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel

FEATURES = 7


def ensemble_model(seed: int, sizes: list[int], *, float32: bool = False) -> TreeEnsembleModel:
    rng = random.Random(seed)
    trees = [random_tree(rng, size, FEATURES) for size in sizes]
    return TreeEnsembleModel(
        pack_trees(trees, baseline=-0.7, n_features=FEATURES, float32_inputs=float32),
        feature_names=[f"f{i}" for i in range(FEATURES)],
        feature_schema_version="bytes",
    )


def rows(count: int, seed: int, *, nan: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, size=(count, FEATURES))
    x[rng.random(x.shape) < 0.15] = 0.5  # exactly a threshold
    x[rng.random(x.shape) < 0.05] = -0.0
    x[rng.random(x.shape) < 0.03] = np.inf
    x[rng.random(x.shape) < 0.03] = -np.inf
    if nan:
        x[rng.random(x.shape) < 0.1] = np.nan
    return x


SHAPES = {
    "stumps and leaves": [1, 2, 2, 1, 2],
    "up to 8 leaves (one byte)": [2, 8, 5, 3, 8, 1, 7, 4] * 4,
    "up to 16 leaves (two bytes)": [16, 9, 12, 2, 16, 10],
    "up to 64 leaves (eight bytes)": [64, 33, 1, 57, 64, 20],
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nan", [False, True])
def test_byte_leaves_are_quickscorer_leaves(shape: str, nan: bool) -> None:
    for seed in range(4):
        model = ensemble_model(seed, SHAPES[shape])
        x = rows(300, seed, nan=nan)
        expected = model._quickscorer_leaves(x)
        got = ByteLeaves(model.ensemble).leaves(x, has_nan=nan)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)


def test_the_byte_layout_is_declined_when_padding_outweighs_it() -> None:
    assert ByteLeaves.fits(ensemble_model(0, [2] * 20).ensemble) is None  # 8 slots per node
    assert ByteLeaves.fits(ensemble_model(0, [8] * 20).ensemble) is not None  # 7 of 8 used
    assert ByteLeaves.fits(ensemble_model(0, [12] * 20).ensemble) is None  # 11 of 16
    assert ByteLeaves.fits(ensemble_model(0, [16] * 20).ensemble) is not None  # 15 of 16


@pytest.mark.parametrize("float32", [False, True])
@pytest.mark.parametrize("sizes", [[8, 6, 3, 8, 7, 5] * 10, [24, 23, 22, 24] * 5], ids=["1", "3"])
def test_batch_answers_are_the_same_bits_with_and_without_the_byte_layout(
    float32: bool, sizes: list[int]
) -> None:
    with_bytes = ensemble_model(9, sizes, float32=float32)
    assert with_bytes._bytes is not None
    without = ensemble_model(9, sizes, float32=float32)
    without._bytes = None
    x = rows(700, 9, nan=True)
    for explain in (0, 3):
        a = with_bytes.predict_arrays(x, explain=explain)
        b = without.predict_arrays(x, explain=explain)
        assert a.raw_score.tobytes() == b.raw_score.tobytes()
        assert a.probability.tobytes() == b.probability.tobytes()
        assert a.reason_index.tobytes() == b.reason_index.tobytes()
        assert a.reason_contribution.tobytes() == b.reason_contribution.tobytes()
    # and the real-time path (one row, QuickScorer) agrees with the batch, row by row
    for i in range(0, 700, 37):
        one = with_bytes.predict(x[i : i + 1], explain=3)[0]
        assert one.raw_score == with_bytes.predict_arrays(x, explain=3).raw_score[i]


def test_a_pickled_model_is_its_ensemble_and_scores_the_same_bits() -> None:
    """Rescoring ships models to its workers by pickle: the tables are rebuilt there, not sent."""
    model = ensemble_model(4, [8, 7, 5, 8] * 25)
    shipped = pickle.dumps(model)
    assert len(shipped) < len(pickle.dumps(model.ensemble)) + 2_000
    copy = pickle.loads(shipped)
    assert (copy.ref, copy.feature_names, copy.feature_schema_version) == (
        model.ref,
        model.feature_names,
        model.feature_schema_version,
    )
    x = rows(200, 4, nan=True)
    a, b = model.predict_arrays(x, explain=3), copy.predict_arrays(x, explain=3)
    assert a.raw_score.tobytes() == b.raw_score.tobytes()
    assert a.reason_index.tobytes() == b.reason_index.tobytes()
