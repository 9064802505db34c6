"""A boosted tree ensemble flattened into numpy arrays (QuickScorer layout) plus per-leaf explanations.

``pack_trees`` turns generic binary trees (``RawTree``) into a ``CompiledEnsemble``:

- every internal node of every tree goes into one global array, grouped by tree. For a row, all nodes'
  comparisons are evaluated at once (one gather, one compare). A node whose comparison says "go right"
  rules out every leaf of its left subtree; each internal node carries a uint64 bitmask with those
  leaves' bits set (leaves numbered left to right within their tree). OR-ing the masks of the
  "go right" nodes of a tree leaves the reached leaf as the lowest clear bit: the leftmost leaf nothing
  ruled out (QuickScorer, Lucchese et al. 2015). Hence at most 64 leaves per tree.
- a missing value (NaN) goes to the side each node learned (``node_nan_right``). The comparison
  ``x > threshold`` is false for NaN, so only rows holding a NaN need the correction
  ``go_right |= isnan(x) & node_nan_right``; the predictor skips it for NaN-free input. Thresholds of
  ``+inf`` (scikit-learn's "split on NaN": every number left, NaN right) become the largest finite
  float, so ``+inf`` inputs (which scikit-learn refuses) go right at every node, and ``-inf`` left.
- reason codes (Saabas path attribution): walking from the root to a leaf, the change of the expected
  value from a node to its child is credited to the node's split feature. Those (feature, delta) pairs
  are precomputed per leaf, padded to the deepest path, so explaining a row is one gather plus a
  ``bincount``. ``base_value`` + the deltas of the reached leaves == the raw score.

The arrays save to and load from ``.npz`` without pickle (``CompiledEnsemble.save`` / ``load``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAX_LEAVES = 64
FORMAT_VERSION = 1
_BIG = float(np.finfo(np.float64).max)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]


class EnsembleFormatError(ValueError):
    """Arrays that do not form a valid compiled ensemble (corrupt or foreign file)."""


@dataclass(frozen=True, slots=True)
class RawTree:
    """One binary regression tree as parallel node arrays; leaves have ``left == right == -1``.

    ``value`` of a leaf is its contribution to the raw score (learning rate already applied);
    internal values are ignored. ``weight`` is the training sample weight reaching each node.
    """

    left: I64
    right: I64
    feature: I64
    threshold: F64
    missing_left: npt.NDArray[np.bool_]
    value: F64
    weight: F64


@dataclass(frozen=True, slots=True, eq=False)
class CompiledEnsemble:
    """The arrays the fast predictor scores from. Shapes: N internal nodes, T trees, L leaves, D depth."""

    n_features: int
    float32_inputs: bool  # cast inputs to float32 first (scikit-learn decision trees do)
    baseline: float  # raw score before any tree
    base_value: float  # baseline + every tree's root expected value (reason-code origin)
    node_feature: I64  # [N] split feature
    node_threshold: F64  # [N] go right when x > threshold
    node_nan_right: npt.NDArray[np.bool_]  # [N] a missing value goes right
    node_mask: U64  # [N] leaves ruled out when the node goes right
    tree_start: I64  # [T] first node of each tree in the node arrays
    leaf_offset: I64  # [T] first leaf of each tree in the leaf arrays
    leaf_value: F64  # [L]
    path_feature: I64  # [L, D] split features on the path to each leaf (padding: 0)
    path_delta: F64  # [L, D] expected-value change credited to that feature (padding: 0.0)

    @property
    def n_trees(self) -> int:
        return int(self.tree_start.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.node_feature.shape[0])

    @property
    def n_leaves(self) -> int:
        return int(self.leaf_value.shape[0])

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        return {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "n_features": np.array(self.n_features, dtype=np.int64),
            "float32_inputs": np.array(self.float32_inputs, dtype=np.bool_),
            "baseline": np.array(self.baseline, dtype=np.float64),
            "base_value": np.array(self.base_value, dtype=np.float64),
            "node_feature": self.node_feature,
            "node_threshold": self.node_threshold,
            "node_nan_right": self.node_nan_right,
            "node_mask": self.node_mask,
            "tree_start": self.tree_start,
            "leaf_offset": self.leaf_offset,
            "leaf_value": self.leaf_value,
            "path_feature": self.path_feature,
            "path_delta": self.path_delta,
        }

    def save(self, path: Path) -> None:
        with path.open("wb") as fh:
            np.savez(fh, **self.arrays())  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> CompiledEnsemble:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise EnsembleFormatError(f"cannot read compiled model {path.name}: {exc}") from exc
        return cls.from_arrays(arrays)

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[np.generic]]) -> CompiledEnsemble:
        try:
            if int(arrays["format_version"]) != FORMAT_VERSION:
                raise EnsembleFormatError(
                    f"compiled model format {int(arrays['format_version'])} is not {FORMAT_VERSION}"
                )
            ens = cls(
                n_features=int(arrays["n_features"]),
                float32_inputs=bool(arrays["float32_inputs"]),
                baseline=float(arrays["baseline"]),
                base_value=float(arrays["base_value"]),
                node_feature=np.ascontiguousarray(arrays["node_feature"], dtype=np.int64),
                node_threshold=np.ascontiguousarray(arrays["node_threshold"], dtype=np.float64),
                node_nan_right=np.ascontiguousarray(arrays["node_nan_right"], dtype=np.bool_),
                node_mask=np.ascontiguousarray(arrays["node_mask"], dtype=np.uint64),
                tree_start=np.ascontiguousarray(arrays["tree_start"], dtype=np.int64),
                leaf_offset=np.ascontiguousarray(arrays["leaf_offset"], dtype=np.int64),
                leaf_value=np.ascontiguousarray(arrays["leaf_value"], dtype=np.float64),
                path_feature=np.ascontiguousarray(arrays["path_feature"], dtype=np.int64),
                path_delta=np.ascontiguousarray(arrays["path_delta"], dtype=np.float64),
            )
        except KeyError as exc:
            raise EnsembleFormatError(f"compiled model lacks array {exc}") from exc
        ens.validate()
        return ens

    def validate(self) -> None:
        """Check shapes and index ranges so a corrupt file fails at load, not mid-prediction."""
        n, t, leaves = self.n_nodes, self.n_trees, self.n_leaves
        problems: list[str] = []
        if self.n_features <= 0:
            problems.append("n_features must be positive")
        if t == 0:
            problems.append("no trees")
        if any(a.shape != (n,) for a in (self.node_threshold, self.node_nan_right, self.node_mask)):
            problems.append("node arrays differ in length")
        if self.leaf_offset.shape != (t,):
            problems.append("leaf_offset length differs from tree count")
        if self.path_feature.ndim != 2 or self.path_feature.shape != self.path_delta.shape:
            problems.append("path arrays are not matching 2-D arrays")
        elif self.path_feature.shape[0] != leaves:
            problems.append("path arrays do not have one row per leaf")
        if n and (self.node_feature.min() < 0 or self.node_feature.max() >= self.n_features):
            problems.append("node feature index out of range")
        if t and (
            self.tree_start[0] != 0
            or np.any(np.diff(self.tree_start) <= 0)
            or self.tree_start[-1] >= max(n, 1)
        ):
            problems.append("tree_start is not strictly increasing from 0")
        if t and (self.leaf_offset[0] != 0 or np.any(np.diff(self.leaf_offset) <= 0)):
            problems.append("leaf_offset is not strictly increasing from 0")
        if self.path_feature.size and (
            self.path_feature.min() < 0 or self.path_feature.max() >= self.n_features
        ):
            problems.append("path feature index out of range")
        if problems:
            raise EnsembleFormatError("invalid compiled model: " + "; ".join(problems))


def _expected_values(tree: RawTree, order: list[int]) -> F64:
    """Sample-weighted mean leaf value under every node, children before parents."""
    expected = tree.value.astype(np.float64).copy()
    weight = tree.weight.astype(np.float64).copy()
    for node in reversed(order):
        left, right = int(tree.left[node]), int(tree.right[node])
        if left < 0:
            continue
        total = weight[left] + weight[right]
        if total > 0:
            expected[node] = (
                weight[left] * expected[left] + weight[right] * expected[right]
            ) / total
        else:  # no training weight recorded: fall back to the plain mean
            expected[node] = 0.5 * (expected[left] + expected[right])
        weight[node] = total
    return expected


def _preorder(tree: RawTree) -> list[int]:
    """Nodes depth-first, left child before right, so leaves come out left to right."""
    order: list[int] = []
    stack = [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if tree.left[node] >= 0:
            stack.append(int(tree.right[node]))
            stack.append(int(tree.left[node]))
    return order


class _PackedTree:
    """One tree's contribution to the global arrays."""

    def __init__(self, tree: RawTree, max_leaves: int) -> None:
        order = _preorder(tree)
        expected = _expected_values(tree, order)
        self.root_value = float(expected[0])
        leaf_number: dict[int, int] = {}
        for node in order:
            if tree.left[node] < 0:
                leaf_number[node] = len(leaf_number)
        n_leaves = len(leaf_number)
        if n_leaves > max_leaves:
            raise ValueError(f"a tree has {n_leaves} leaves; the predictor supports {max_leaves}")
        # Leaves under each node form a contiguous run [first, last] in left-to-right numbering.
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for node in reversed(order):
            if node in leaf_number:
                first[node] = last[node] = leaf_number[node]
            else:
                first[node] = first[int(tree.left[node])]
                last[node] = last[int(tree.right[node])]
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.nan_right: list[bool] = []
        self.mask: list[int] = []
        for node in order:
            if node in leaf_number:
                continue
            left = int(tree.left[node])
            self.feature.append(int(tree.feature[node]))
            thr = float(tree.threshold[node])
            self.threshold.append(_BIG if thr == np.inf else thr)
            self.nan_right.append(not bool(tree.missing_left[node]))
            self.mask.append(((1 << (last[left] + 1)) - 1) ^ ((1 << first[left]) - 1))
        if not self.feature:  # a single-leaf tree: one node that rules out nothing either way
            self.feature.append(0)
            self.threshold.append(0.0)
            self.nan_right.append(False)
            self.mask.append(0)
        self.leaf_value = [0.0] * n_leaves
        self.paths: list[list[tuple[int, float]]] = [[] for _ in range(n_leaves)]
        path_to: dict[int, list[tuple[int, float]]] = {0: []}
        for node in order:
            path = path_to.pop(node)
            if node in leaf_number:
                self.leaf_value[leaf_number[node]] = float(tree.value[node])
                self.paths[leaf_number[node]] = path
                continue
            feature = int(tree.feature[node])
            for child in (int(tree.left[node]), int(tree.right[node])):
                path_to[child] = [*path, (feature, float(expected[child] - expected[node]))]


def pack_trees(
    trees: list[RawTree],
    *,
    baseline: float,
    n_features: int,
    float32_inputs: bool,
    max_leaves: int = MAX_LEAVES,
) -> CompiledEnsemble:
    """Flatten trees into the QuickScorer arrays and per-leaf Saabas paths."""
    if not trees:
        raise ValueError("an ensemble needs at least one tree")
    if not 1 <= max_leaves <= MAX_LEAVES:
        raise ValueError(f"max_leaves must be in 1..{MAX_LEAVES}")
    packed = [_PackedTree(tree, max_leaves) for tree in trees]
    tree_start = np.cumsum([0] + [len(p.feature) for p in packed[:-1]], dtype=np.int64)
    leaf_offset = np.cumsum([0] + [len(p.leaf_value) for p in packed[:-1]], dtype=np.int64)
    paths = [path for p in packed for path in p.paths]
    depth = max(1, max(len(path) for path in paths))
    path_feature = np.zeros((len(paths), depth), dtype=np.int64)
    path_delta = np.zeros((len(paths), depth), dtype=np.float64)
    for i, path in enumerate(paths):
        for j, (feature, delta) in enumerate(path):
            path_feature[i, j] = feature
            path_delta[i, j] = delta
    ens = CompiledEnsemble(
        n_features=n_features,
        float32_inputs=float32_inputs,
        baseline=float(baseline),
        base_value=float(baseline) + float(sum(p.root_value for p in packed)),
        node_feature=np.array([f for p in packed for f in p.feature], dtype=np.int64),
        node_threshold=np.array([t for p in packed for t in p.threshold], dtype=np.float64),
        node_nan_right=np.array([r for p in packed for r in p.nan_right], dtype=np.bool_),
        node_mask=np.array([m for p in packed for m in p.mask], dtype=np.uint64),
        tree_start=tree_start,
        leaf_offset=leaf_offset,
        leaf_value=np.array([v for p in packed for v in p.leaf_value], dtype=np.float64),
        path_feature=path_feature,
        path_delta=path_delta,
    )
    ens.validate()
    return ens
