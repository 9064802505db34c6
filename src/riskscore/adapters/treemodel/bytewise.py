"""Reached leaves of many rows from byte-packed comparisons and a lookup table per byte.

The batch twin of ``TreeEnsembleModel._leaves`` (QuickScorer: OR the "go right" masks of a tree's
nodes, the reached leaf is the lowest clear bit), with the same answer for every row and less work
per row on large batches:

- every tree's internal nodes are laid out in whole bytes: ``slots`` groups of 8 node slots per
  tree (``slots = ceil(most nodes in a tree / 8)``); unused slots compare against ``+inf``, so
  their bit is always clear (``x > inf`` is false for every float, NaN included, and an unused
  slot never sends NaN right);
- a row's comparisons are packed into bytes (``np.packbits`` along the row: one byte per group);
- a 256-entry table per group gives the OR of the masks of the nodes whose bit is set. With one
  group per tree (trees of at most 8 internal nodes, the usual case) the table holds the reached
  leaf itself; otherwise it holds the mask, the groups of a tree are OR-ed and the lowest clear
  bit taken, as QuickScorer does.

This replaces QuickScorer's multiply of every mask by its comparison and the ``reduceat`` over
every node (about half its cost on 100 trees of up to 8 leaves) by a pack and one table lookup per
tree. The tables cost 2 KB per group. ``ByteLeaves.fits`` declines ensembles whose padding would
cost more than the byte layout saves (stumps, trees of 9 to 12 leaves: measured limits below);
those keep QuickScorer.
``tests/unit/test_treemodel_bytewise.py`` holds both to the same leaves.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from riskscore.adapters.treemodel.ensemble import CompiledEnsemble

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]

MAX_PADDING = 2.0
"""Largest ratio of node slots to nodes for which the byte layout is used, with one byte per tree.
Measured on 64 rows (us a row, byte-wise / QuickScorer): 100 trees of 5 leaves (padding 2.0)
1.07 / 1.79, of 8 leaves 1.10 / 2.42."""
MAX_PADDING_WIDE = 1.3
"""The same with several bytes per tree, whose masks are OR-ed: 200 trees of 12 leaves (padding
1.45) 8.0 / 6.6, of 16 leaves (1.07) 8.0 / 8.4, of 20 leaves (1.26) 10.0 / 10.5, of 64 leaves
(1.02) 23 / 56."""

_BYTES = np.arange(256, dtype=np.int64)
_ONE = np.uint64(1)


class ByteLeaves:
    """Leaf lookup of a compiled ensemble in the byte layout; build with ``ByteLeaves.fits``."""

    __slots__ = (
        "_feature",
        "_group_base",
        "_leaf",
        "_leaf_base",
        "_masks",
        "_nan_right",
        "_slots",
        "_threshold",
    )

    def __init__(self, ensemble: CompiledEnsemble) -> None:
        trees = ensemble.n_trees
        bounds = np.append(ensemble.tree_start, ensemble.n_nodes)
        counts = np.diff(bounds)
        slots = _slots(ensemble)
        width = 8 * slots
        feature = np.zeros(trees * width, dtype=np.int64)
        threshold = np.full(trees * width, np.inf, dtype=np.float64)
        nan_right = np.zeros(trees * width, dtype=np.bool_)
        mask = np.zeros(trees * width, dtype=np.uint64)
        # Slot j of tree t is column t * width + j; the tree's nodes take its first slots.
        column = np.repeat(np.arange(trees) * width, counts) + (
            np.arange(ensemble.n_nodes) - np.repeat(bounds[:-1], counts)
        )
        feature[column] = ensemble.node_feature
        threshold[column] = ensemble.node_threshold
        nan_right[column] = ensemble.node_nan_right
        mask[column] = ensemble.node_mask
        # table[g, b]: OR of the masks of group g's nodes whose bit is set in byte b (bit j: slot j).
        # (one slot at a time: no [groups, 256, 8] temporary, 26 MB for 200 trees of 64 leaves)
        masks = mask.reshape(trees * slots, 8)
        table = np.zeros((trees * slots, 256), dtype=np.uint64)
        for j in range(8):
            table |= np.where(((_BYTES >> j) & 1).astype(np.bool_), masks[:, j, None], np.uint64(0))
        self._slots = slots
        self._feature = feature
        self._threshold = threshold
        self._nan_right = nan_right
        self._group_base = np.arange(trees * slots, dtype=np.int64) * 256
        self._leaf_base = ensemble.leaf_offset - 1
        self._masks: U64 = table.ravel()
        self._leaf: I64 | None = None
        if slots == 1:  # the table holds the leaf: its global index, lowest clear bit of the mask
            self._leaf = (
                self._leaf_base[:, None] + np.bitwise_count(table ^ (table + _ONE))
            ).ravel()

    @classmethod
    def fits(cls, ensemble: CompiledEnsemble) -> ByteLeaves | None:
        """The byte layout of ``ensemble``, or None when its padding would outweigh the gain."""
        slots = _slots(ensemble)
        limit = MAX_PADDING if slots == 1 else MAX_PADDING_WIDE
        if ensemble.n_trees * 8 * slots > limit * ensemble.n_nodes:
            return None
        return cls(ensemble)

    def leaves(self, x: F64, *, has_nan: bool) -> I64:
        """Global leaf index reached in every tree, [rows, trees], for routed rows ``x``."""
        values = x.take(self._feature, axis=1)
        right = values > self._threshold
        if has_nan:
            right |= np.isnan(values) & self._nan_right
        groups = np.packbits(right, axis=1, bitorder="little")
        at = groups + self._group_base
        if self._leaf is not None:
            return self._leaf.take(at)
        found = self._masks.take(at)
        rows = x.shape[0]
        ruled_out = np.bitwise_or.reduce(found.reshape(rows, -1, self._slots), axis=2)
        leaves: I64 = self._leaf_base + np.bitwise_count(ruled_out ^ (ruled_out + _ONE))
        return leaves


def _slots(ensemble: CompiledEnsemble) -> int:
    most = int(np.diff(np.append(ensemble.tree_start, ensemble.n_nodes)).max())
    return max(1, -(-most // 8))
