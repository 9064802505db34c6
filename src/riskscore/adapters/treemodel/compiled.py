"""The compiled batch kernel (``_treekernel.c``) of ``TreeEnsembleModel.predict_arrays``, when built.

setup.py builds ``_treekernel`` where a C compiler is present; without it ``kernel_of`` answers
None and the predictor keeps its numpy path, which stays the reference: the kernel gives the same
bits (``_treekernel.c`` says how; tests/unit/test_treemodel_kernel.py holds the two equal).

The kernel walks each tree from its root, so it needs child links, which the QuickScorer layout
(``ensemble.py``) does not store; they follow from it. A tree's internal nodes are in preorder,
left subtree first, and a node's mask is the run of leaves [a, b] of its left subtree, so its
left child is leaf ``a`` when the run is one leaf long, else the next node; its right child starts
right after the left subtree's ``b - a`` internal nodes, at ``i + 1 + (b - a)``, when the node there
belongs to the tree and its own left run starts at ``b + 1``; otherwise the right child is leaf
``b + 1``. Reason-code paths go as one list of entries per leaf, without the padding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from riskscore.adapters.treemodel.ensemble import CompiledEnsemble

try:
    from riskscore.adapters.treemodel import _treekernel
except ImportError:  # built without a C compiler: predictor.py scores with numpy alone
    _treekernel = None  # type: ignore[assignment]

COMPILED_KERNEL = _treekernel is not None

I32 = npt.NDArray[np.int32]
_ONE = np.uint64(1)
_INT32_MAX = np.iinfo(np.int32).max


def kernel_of(ensemble: CompiledEnsemble) -> _treekernel.Kernel | None:
    """The compiled kernel scoring ``ensemble``, or None where it was not built."""
    arrays = kernel_arrays(ensemble) if _treekernel is not None else None
    return None if arrays is None else _treekernel.Kernel(**arrays)


def kernel_arrays(ensemble: CompiledEnsemble) -> dict[str, Any] | None:
    """``_treekernel.Kernel``'s arguments for ``ensemble``; None past its int32 indices."""
    keep = ensemble.path_delta != 0.0  # adding +-0.0 leaves a sum as it is (_treekernel.c)
    entries = int(keep.sum())
    if max(ensemble.n_nodes + ensemble.n_leaves, entries) >= _INT32_MAX:
        return None
    left, right, roots = child_links(ensemble)
    path_start = np.zeros(ensemble.n_leaves + 1, dtype=np.int32)
    np.cumsum(keep.sum(axis=1), out=path_start[1:])
    return {
        "node_feature": ensemble.node_feature.astype(np.int32),
        "node_threshold": np.ascontiguousarray(ensemble.node_threshold, dtype=np.float64),
        "node_nan_right": ensemble.node_nan_right.astype(np.int32),
        "node_left": left,
        "node_right": right,
        "roots": roots,
        "leaf_value": np.ascontiguousarray(ensemble.leaf_value, dtype=np.float64),
        "path_start": path_start,
        "path_feature": ensemble.path_feature[keep].astype(np.int32),
        "neg_path_delta": -ensemble.path_delta[keep],
        "n_features": ensemble.n_features,
        "baseline": ensemble.baseline,
    }


def child_links(ensemble: CompiledEnsemble) -> tuple[I32, I32, I32]:
    """Left and right child of every internal node and every tree's root: a node index, or
    ``~leaf`` (negative) for a global leaf index. A tree of one leaf is a root ``~leaf`` (its
    placeholder node, which rules nothing out, links to that leaf both ways)."""
    n_nodes = ensemble.n_nodes
    counts = np.diff(np.append(ensemble.tree_start, n_nodes))
    tree_end = np.repeat(ensemble.tree_start + counts, counts)
    leaf_offset = np.repeat(ensemble.leaf_offset, counts)
    mask = ensemble.node_mask
    node = np.arange(n_nodes, dtype=np.int64)
    first = _lowest_bit(mask)  # a: first leaf of the left subtree (64 when the mask is empty)
    width = np.bitwise_count(mask).astype(np.int64)  # b - a + 1
    after = node + np.maximum(width, 1)  # i + 1 + (b - a)
    there = np.minimum(after, n_nodes - 1)
    right_is_node = (after < tree_end) & (_lowest_bit(mask[there]) == first + width)
    empty = width == 0  # the placeholder of a one-leaf tree
    left = np.where(width > 1, node + 1, ~(leaf_offset + first))
    right = np.where(right_is_node, after, ~(leaf_offset + first + width))
    left[empty] = right[empty] = ~leaf_offset[empty]
    roots = np.where(empty[ensemble.tree_start], ~ensemble.leaf_offset, ensemble.tree_start)
    return left.astype(np.int32), right.astype(np.int32), roots.astype(np.int32)


def _lowest_bit(mask: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Index of each mask's lowest set bit; 64 for an empty mask."""
    return np.bitwise_count((mask & (~mask + _ONE)) - _ONE).astype(np.int64)
