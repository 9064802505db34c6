"""The compiled batch kernel (``_treekernel.c``) answers ``predict_arrays`` with the numpy path's bits.

Random ensembles of 1 to 64 leaves a tree (one-leaf trees, stumps, deep chains), whose leaf values
repeat so that path deltas are often exactly zero, scored on rows holding NaN, infinities, signed
zeros and values equal to thresholds, float32 models included, for 0 to 5 reason codes and batches
of 1 to 300 rows: probability, raw score, reason indices, contributions and values compared as
bytes with the same model scored by numpy (``_kernel`` switched off).
"""

from __future__ import annotations

import math
import random
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tree_support import random_tree

from riskscore.adapters.treemodel import compiled
from riskscore.adapters.treemodel.ensemble import RawTree, pack_trees
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel

compiled_only = pytest.mark.skipif(
    not compiled.COMPILED_KERNEL, reason="the compiled kernel was not built (no C compiler)"
)
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIELDS = ("probability", "raw_score", "reason_index", "reason_contribution", "reason_value")


def random_model(seed: int, sizes: list[int], features: int, *, float32: bool) -> TreeEnsembleModel:
    rng = random.Random(seed)
    trees = [random_tree(rng, size, features, lopsided=0.3, repeats=0.5) for size in sizes]
    return TreeEnsembleModel(
        pack_trees(
            trees,
            baseline=rng.choice([-0.7, 0.0, -0.0, 2.5]),
            n_features=features,
            float32_inputs=float32,
        ),
        feature_names=[f"f{i}" for i in range(features)],
        feature_schema_version="kernel",
    )


def random_rows(count: int, features: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, size=(count, features))
    x[rng.random(x.shape) < 0.15] = 0.5  # exactly a threshold
    x[rng.random(x.shape) < 0.05] = rng.choice([-1.0, 0.0, 1.5, 3.0])
    x[rng.random(x.shape) < 0.05] = -0.0
    x[rng.random(x.shape) < 0.03] = np.inf
    x[rng.random(x.shape) < 0.03] = -np.inf
    x[rng.random(x.shape) < rng.choice([0.0, 0.1, 0.5])] = np.nan
    x[::17] *= 1e30  # raw scores far from zero: probabilities of exactly 0 or 1
    return x


def assert_same_bits(model: TreeEnsembleModel, x: np.ndarray, explain: int) -> None:
    kernel = model._kernel
    assert kernel is not None
    got = model.predict_arrays(x, explain=explain)
    model._kernel = None
    try:
        expected = model.predict_arrays(x, explain=explain)
    finally:
        model._kernel = kernel
    for field in FIELDS:
        a, b = getattr(got, field), getattr(expected, field)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), field
        assert a.tobytes() == b.tobytes(), field


@st.composite
def cases(draw: st.DrawFn) -> tuple[TreeEnsembleModel, np.ndarray]:
    features = draw(st.integers(1, 12))
    size = st.one_of(st.integers(1, 8), st.integers(1, 64), st.sampled_from([1, 2, 63, 64]))
    sizes = draw(st.lists(size, min_size=1, max_size=12))
    model = random_model(draw(st.integers(0, 2**32)), sizes, features, float32=draw(st.booleans()))
    rows = random_rows(draw(st.integers(1, 300)), features, draw(st.integers(0, 2**32)))
    return model, rows


@compiled_only
@EXAMPLES
@given(cases(), st.integers(0, 5))
def test_the_kernel_scores_the_numpy_paths_bits(
    case: tuple[TreeEnsembleModel, np.ndarray], explain: int
) -> None:
    model, x = case
    assert_same_bits(model, x, explain)


@compiled_only
@pytest.mark.parametrize("explain", [0, 1, 3, 7, 8, 9, 12])
def test_ties_and_non_finite_contributions_rank_as_a_stable_sort(explain: int) -> None:
    """Many equal sums (stumps on few features, equal values) and NaN or infinite leaf values,
    which send ``_smallest`` to its sort: codes still rank as numpy's."""
    model = random_model(3, [2, 2, 1, 3, 2] * 6, 12, float32=False)
    assert_same_bits(model, random_rows(300, 12, 3), explain)
    for poison in (np.nan, np.inf, -np.inf):
        ens = model.ensemble
        ens.path_delta[5, 0] = ens.leaf_value[7] = poison
        spoilt = TreeEnsembleModel(
            ens, feature_names=model.feature_names, feature_schema_version="x"
        )
        assert_same_bits(spoilt, random_rows(100, 12, 4), explain)


@compiled_only
@pytest.mark.parametrize("leaf", [0.0, -0.0])
@pytest.mark.parametrize("explain", [0, 2])
def test_signed_zero_sums_keep_their_sign(leaf: float, explain: int) -> None:
    """All leaves zero and a baseline of -0.0: the sign of the raw score depends on how each sum
    starts (cumsum from the first leaf, bincount from +0.0), which the kernel must copy."""
    rng = random.Random(8)
    trees = [random_tree(rng, size, 3, lopsided=0.3, repeats=0.5) for size in (3, 1, 5, 2)]
    zeroed = [
        RawTree(
            left=t.left, right=t.right, feature=t.feature, threshold=t.threshold,
            missing_left=t.missing_left, value=np.full_like(t.value, leaf), weight=t.weight,
        )
        for t in trees
    ]  # fmt: skip
    model = TreeEnsembleModel(
        pack_trees(zeroed, baseline=-0.0, n_features=3, float32_inputs=False),
        feature_names=["a", "b", "c"],
        feature_schema_version="zeros",
    )
    assert_same_bits(model, random_rows(20, 3, 8), explain)


@compiled_only
def test_batches_use_the_kernel_and_one_row_the_numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    model = random_model(1, [8, 5, 3], 4, float32=False)
    calls: list[int] = []
    kernel = model._kernel

    class Counting:
        def score(self, x: np.ndarray, *args: object) -> None:
            calls.append(x.shape[0])
            kernel.score(x, *args)  # type: ignore[union-attr]

    model._kernel = Counting()  # type: ignore[assignment]
    x = random_rows(5, 4, 1)
    model.predict_arrays(x, explain=3)
    model.predict_arrays(x[:1], explain=3)
    model.predict(x[:1], explain=3)
    assert calls == [5]


@compiled_only
def test_a_non_contiguous_matrix_scores_as_its_copy() -> None:
    model = random_model(2, [8, 7, 6, 5], 6, float32=True)
    wide = random_rows(50, 12, 2)
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    a = model.predict_arrays(view, explain=3)
    b = model.predict_arrays(np.ascontiguousarray(view), explain=3)
    for field in FIELDS:
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()


@compiled_only
def test_the_kernel_refuses_links_that_would_read_out_of_bounds() -> None:
    model = random_model(5, [4, 3], 3, float32=False)
    left, right, roots = compiled.child_links(model.ensemble)
    good = compiled.kernel_arrays(model.ensemble)
    assert good is not None
    compiled._treekernel.Kernel(**good)
    for name, broken in (
        ("node_left", np.full_like(left, 99)),
        ("node_right", np.zeros_like(right)),  # a child before its parent: a cycle
        ("roots", roots + 50),
        ("node_feature", good["node_feature"] + 3),
        ("path_feature", good["path_feature"] - 1),
        ("leaf_value", good["leaf_value"][:-1]),
    ):
        with pytest.raises(ValueError):
            compiled._treekernel.Kernel(**{**good, name: broken})
    kernel = compiled._treekernel.Kernel(**good)
    x = np.zeros((2, 3))
    out = [np.empty(2), np.empty(2), np.empty((2, 1), np.int64), np.empty((2, 1)), np.empty((2, 1))]
    with pytest.raises(ValueError):
        kernel.score(x[:1], x, 1, *out)
    with pytest.raises(ValueError):
        kernel.score(x, x, 4, *out)


def test_child_links_walk_to_the_leaves_quickscorer_reaches() -> None:
    """The links the kernel walks (derived from the masks), walked here in Python."""
    for seed in range(20):
        model = random_model(seed, [1, 2, 64, 8, 33, 5, 1], 5, float32=False)
        left, right, roots = compiled.child_links(model.ensemble)
        ens = model.ensemble
        x = random_rows(40, 5, seed)
        for row, expected in zip(x, model._quickscorer_leaves(x), strict=True):
            reached = []
            for root in roots.tolist():
                node = root
                while node >= 0:
                    v = row[ens.node_feature[node]]
                    go_right = v > ens.node_threshold[node] or (
                        math.isnan(v) and ens.node_nan_right[node]
                    )
                    node = int(right[node] if go_right else left[node])
                reached.append(~node)
            assert reached == expected.tolist()


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler here")
def test_a_machine_with_a_c_compiler_builds_the_kernel() -> None:
    # Not @compiled_only, on purpose: with a compiler present, a silently failed optional build
    # (setup.py) would cost batch rescoring about half its model time; this makes it loud.
    assert compiled.COMPILED_KERNEL


def test_without_the_kernel_the_model_scores_with_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a machine without a C compiler runs."""
    monkeypatch.setattr(compiled, "_treekernel", None)
    assert compiled.kernel_of(random_model(0, [3, 4], 3, float32=False).ensemble) is None
    model = random_model(0, [3, 4], 3, float32=False)
    model._kernel = None
    scores = model.predict_arrays(random_rows(10, 3, 0), explain=2)
    assert scores.reason_index.shape == (10, 2)
