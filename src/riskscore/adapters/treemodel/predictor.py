"""``TreeEnsembleModel``: scores a compiled ensemble with a handful of numpy calls, no scikit-learn.

Per batch of rows (any batch, one row included) the work is a fixed number of numpy calls, whatever the
number of trees: gather every node's feature value, compare with every threshold, OR the "go right"
masks per tree (``bitwise_or.reduceat``), take the lowest clear bit (``bitwise_count(m ^ (m + 1))``)
as the reached leaf, sum leaf values. The arrays layout and the NaN rule are in ``ensemble.py``.
Batches are processed in chunks of ``CHUNK_ROWS`` rows so the [rows, nodes] temporaries stay in cache.
Batches of an ensemble of small trees (the usual case) find their leaves byte-wise instead
(``bytewise.py``: comparisons packed into a byte per tree, a table lookup per byte), which halves
that step; one row (the real-time path) stays on QuickScorer. Both reach the same leaves.

Reason codes are exact Saabas path attributions: contributions (log-odds) of all features plus
``base_value`` equal the raw score. ``predict(..., explain=k)`` returns the ``k`` features with the
largest signed contributions, largest first: the features that pushed this applicant's risk up the
most. When fewer than ``k`` features raised the score, the tail holds the least negative ones (ties
break by schema order), so callers always get ``min(k, n_features)`` codes.

Every path gives the same bits for a row, so a logged score can be reproduced with ``==``: raw
scores add the reached leaves' values tree after tree (the explaining ``bincount`` adds them in that
order; ``cumsum`` does without it, where ``sum`` would add pairwise), probabilities come from one
``math.exp`` sigmoid, whatever the batch size, the number of reason codes or the entry point
(``predict``, ``predict_arrays``, ``predict_proba``). ``predict_arrays`` is ``predict`` without a
struct per row, for batch rescoring. Where the optional compiled kernel is built (``compiled.py``),
batches of two rows or more are scored by it instead, with the same bits: about 1.2 us a row
against 3.1 on the bench model (100 trees, 141 features, 3 codes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from riskscore.adapters.treemodel.bytewise import ByteLeaves
from riskscore.adapters.treemodel.compiled import kernel_of
from riskscore.adapters.treemodel.ensemble import CompiledEnsemble, EnsembleFormatError
from riskscore.domain.scoring import ModelPrediction, ModelRef, ReasonCode
from riskscore.ports.model_registry import (
    DEFAULT_MODEL_NAME,
    InvalidFeatureMatrix,
    ModelScores,
    ScoresInArrays,
    ScoringModel,
)

CHUNK_ROWS = 64
"""Rows scored per pass in a batch; measured best of 16..1000 on 1,500-node models (bench/predict.py)."""
BLOCK_ROWS = 512
"""Rows whose contributions are held at once while choosing reason codes: 512 was 4% faster than
4,096 on the default model (the block stays in cache while codes are picked; bench/rescore.py)."""
FEW_CODES = 8
"""Up to this many reason codes per row, ``_smallest`` picks them by repeated ``argmin``."""

UNREGISTERED = ModelRef(name=DEFAULT_MODEL_NAME, version="UNREGISTERED")

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_ONE = np.uint64(1)


def _sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _smallest(values: F64, k: int) -> I64:
    """Columns of each row's ``k`` smallest values, smallest first, ties in column order.

    Exactly ``np.argsort(values, axis=1, kind="stable")[:, :k]``. For the few reason codes asked
    for in practice, ``k`` passes of ``argmin`` (which returns the first of equal minima) do it in
    a fraction of the time of sorting every row; NaN or infinite values take the sort.
    """
    rows = values.shape[0]
    if k > FEW_CODES or not np.isfinite(values).all():
        return np.argsort(values, axis=1, kind="stable")[:, :k]
    work = values.copy()
    everyone = np.arange(rows)
    out = np.empty((rows, k), dtype=np.int64)
    for j in range(k):
        smallest = work.argmin(axis=1)
        out[:, j] = smallest
        work[everyone, smallest] = np.inf
    return out


class TreeEnsembleModel(ScoringModel, ScoresInArrays):
    """A compiled binary tree ensemble scoring feature rows in schema order."""

    __slots__ = (
        "_base_value",
        "_baseline",
        "_bytes",
        "_ens",
        "_f32",
        "_feature",
        "_kernel",
        "_leaf_base",
        "_leaf_value",
        "_mask",
        "_n",
        "_names",
        "_nan_right",
        "_neg_path_delta",
        "_path_feature",
        "_ref",
        "_schema_version",
        "_starts",
        "_threshold",
    )

    def __init__(
        self,
        ensemble: CompiledEnsemble,
        *,
        feature_names: Sequence[str],
        feature_schema_version: str,
        ref: ModelRef = UNREGISTERED,
    ) -> None:
        if len(feature_names) != ensemble.n_features:
            raise ValueError(
                f"{len(feature_names)} feature names for a model of {ensemble.n_features} features"
            )
        self._ens = ensemble
        self._names = tuple(feature_names)
        self._schema_version = feature_schema_version
        self._ref = ref
        self._n = ensemble.n_features
        self._f32 = ensemble.float32_inputs
        self._baseline = ensemble.baseline
        self._base_value = ensemble.base_value
        self._feature = ensemble.node_feature
        self._threshold = ensemble.node_threshold
        self._nan_right = ensemble.node_nan_right
        self._mask = ensemble.node_mask
        self._starts = ensemble.tree_start
        # bitwise_count(m ^ (m + 1)) is the lowest clear bit's index plus one; fold the "- 1" in here.
        self._leaf_base = ensemble.leaf_offset - 1
        self._leaf_value = ensemble.leaf_value
        self._bytes = ByteLeaves.fits(ensemble)
        self._kernel = kernel_of(ensemble)
        # One extra pseudo-feature column (index n_features) carries each leaf's value, so the
        # bincount that sums contributions also sums the raw score. Deltas are stored negated: an
        # ascending stable argsort of the sums then gives contributions in descending order with
        # ties in schema order, without a negation per call.
        n_leaves = ensemble.n_leaves
        self._path_feature = np.ascontiguousarray(
            np.hstack([ensemble.path_feature, np.full((n_leaves, 1), self._n, dtype=np.int64)])
        )
        self._neg_path_delta = np.ascontiguousarray(
            -np.hstack([ensemble.path_delta, ensemble.leaf_value[:, None]])
        )

    # -- identity -------------------------------------------------------------------------------
    @property
    def ref(self) -> ModelRef:
        return self._ref

    @property
    def feature_schema_version(self) -> str:
        return self._schema_version

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def ensemble(self) -> CompiledEnsemble:
        return self._ens

    @property
    def base_value(self) -> float:
        """Raw score (log-odds) before any feature is known: the origin of the reason codes."""
        return self._base_value

    def with_ref(self, ref: ModelRef) -> TreeEnsembleModel:
        """The same model under another name/version (the registry assigns versions)."""
        return TreeEnsembleModel(
            self._ens,
            feature_names=self._names,
            feature_schema_version=self._schema_version,
            ref=ref,
        )

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as the compiled ensemble and its identity; the scoring tables are rebuilt.

        Batch rescoring ships the model to every worker process: the derived arrays (the byte
        tables above all) made it ten times larger than the ensemble (524 KB against 52 KB), and
        a worker's start waits until its pipe has taken the whole pickle."""
        return (_rebuilt, (self._ens, self._names, self._schema_version, self._ref))

    # -- persistence (no pickle) ---------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the compiled arrays, feature names and schema version to one ``.npz`` file."""
        arrays = self._ens.arrays()
        arrays["feature_names"] = np.array(self._names, dtype=np.str_)
        arrays["feature_schema_version"] = np.array(self._schema_version, dtype=np.str_)
        with path.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path, *, ref: ModelRef = UNREGISTERED) -> TreeEnsembleModel:
        """Read a file written by ``save``; ``EnsembleFormatError`` when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise EnsembleFormatError(f"cannot read compiled model {path.name}: {exc}") from exc
        try:
            names = [str(n) for n in arrays.pop("feature_names").tolist()]
            schema_version = str(arrays.pop("feature_schema_version"))
        except KeyError as exc:
            raise EnsembleFormatError(f"compiled model lacks {exc}") from exc
        try:
            return cls(
                CompiledEnsemble.from_arrays(arrays),
                feature_names=names,
                feature_schema_version=schema_version,
                ref=ref,
            )
        except ValueError as exc:
            raise EnsembleFormatError(str(exc)) from exc

    # -- scoring --------------------------------------------------------------------------------
    def _matrix(self, matrix: npt.ArrayLike) -> F64:
        try:
            x = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidFeatureMatrix(f"feature matrix is not numeric: {exc}") from exc
        if x.ndim != 2 or x.shape[1] != self._n:
            raise InvalidFeatureMatrix(
                f"expected a 2-D matrix with {self._n} columns, got shape {x.shape}"
            )
        return x

    def _routed(self, x: F64) -> F64:
        """The values the splits compare: scikit-learn's decision trees compare float32(x)."""
        return x.astype(np.float32).astype(np.float64) if self._f32 else x

    def _row_leaves(self, x: F64) -> I64:
        """Global leaf index reached in every tree, for one row (1-D)."""
        xv = x.take(self._feature)
        right = xv > self._threshold
        if math.isnan(x @ x):  # x @ x is NaN exactly when some value is NaN
            right |= np.isnan(xv) & self._nan_right
        out = np.bitwise_or.reduceat(self._mask * right, self._starts)
        leaves: I64 = self._leaf_base + np.bitwise_count(out ^ (out + _ONE))
        return leaves

    def _leaves(self, x: F64) -> I64:
        """Global leaf index reached in every tree, [rows, trees]: byte-wise when the ensemble's
        trees fill whole bytes well enough (``bytewise.py``), else QuickScorer; the same leaves."""
        if self._bytes is not None:
            return self._bytes.leaves(x, has_nan=bool(np.isnan(x).any()))
        return self._quickscorer_leaves(x)

    def _quickscorer_leaves(self, x: F64) -> I64:
        xv = x.take(self._feature, axis=1)
        right = xv > self._threshold
        if np.isnan(x).any():  # the input is narrower than the node values: test it there
            right |= np.isnan(xv) & self._nan_right
        out = np.bitwise_or.reduceat(self._mask * right, self._starts, axis=1)
        leaves: I64 = self._leaf_base + np.bitwise_count(out ^ (out + _ONE))
        return leaves

    def raw_scores(self, matrix: npt.ArrayLike) -> F64:
        """Raw score (log-odds) per row: what scikit-learn's ``decision_function`` answers."""
        return self._raw(self._routed(self._matrix(matrix)))

    def _raw(self, x: F64) -> F64:
        """Baseline plus the reached leaves' values summed in tree order, left to right.

        The order is the one ``np.bincount`` follows when ``predict`` explains (it adds a row's
        leaf values tree after tree), so every path gives bit-identical scores: ``cumsum`` is a
        sequential sum by definition, where ``sum`` would add pairwise and differ in the last bits.
        """
        rows = x.shape[0]
        if rows == 1:
            leaf_values = self._leaf_value.take(self._row_leaves(x[0]))
            return np.array([self._baseline + float(np.cumsum(leaf_values)[-1])])
        out = np.empty(rows, dtype=np.float64)
        for start in range(0, rows, CHUNK_ROWS):
            leaves = self._leaves(x[start : start + CHUNK_ROWS])
            out[start : start + CHUNK_ROWS] = np.cumsum(self._leaf_value.take(leaves), axis=1)[
                :, -1
            ]
        out += self._baseline
        return out

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return self.predict_arrays(matrix, explain=0).probability

    def contributions(self, matrix: npt.ArrayLike) -> tuple[F64, F64]:
        """Per-row feature contributions [rows, features] and raw scores [rows].

        ``contributions.sum(axis=1) + base_value == raw`` up to float rounding.
        """
        sums = self._sums(self._routed(self._matrix(matrix)))
        return -sums[:, : self._n], self._baseline - sums[:, self._n]

    def _sums(self, x: F64) -> F64:
        """``_chunk_sums`` of every row of ``x``, chunk after chunk."""
        rows, width = x.shape[0], self._n + 1
        sums = np.empty((rows, width), dtype=np.float64)
        for start in range(0, rows, CHUNK_ROWS):
            sums[start : start + CHUNK_ROWS] = self._chunk_sums(x[start : start + CHUNK_ROWS])
        return sums

    def _chunk_sums(self, x: F64) -> F64:
        """Negated contributions [rows, features] and, in the last column, minus the leaf sum."""
        leaves = self._leaves(x)
        rows, width = x.shape[0], self._n + 1
        offsets = (np.arange(rows, dtype=np.int64) * width)[:, None, None]
        bins = self._path_feature.take(leaves, axis=0) + offsets
        weights = self._neg_path_delta.take(leaves, axis=0)
        sums = np.bincount(bins.ravel(), weights.ravel(), rows * width)
        return cast(F64, sums).reshape(rows, width)

    def predict_arrays(self, matrix: npt.NDArray[np.float64], *, explain: int = 3) -> ModelScores:
        """``predict`` as arrays (``ScoresInArrays``): the same numbers, bit for bit, for any batch."""
        given = self._matrix(matrix)
        rows = given.shape[0]
        k = min(max(explain, 0), self._n)
        if self._kernel is not None and rows > 1:
            return self._compiled_scores(np.ascontiguousarray(given), k)
        x = self._routed(given)
        top = np.empty((rows, k), dtype=np.int64)
        contribution = np.empty((rows, k), dtype=np.float64)
        if k == 0:
            raw = self._raw(x)
        else:
            raw = np.empty(rows, dtype=np.float64)
            n = self._n
            for start in range(0, rows, BLOCK_ROWS):
                stop = min(start + BLOCK_ROWS, rows)
                sums = self._sums(x[start:stop])
                raw[start:stop] = self._baseline - sums[:, n]
                neg = sums[:, :n]
                chosen = _smallest(neg, k)
                top[start:stop] = chosen
                contribution[start:stop] = -np.take_along_axis(neg, chosen, axis=1)
        return ModelScores(
            probability=np.fromiter(map(_sigmoid, raw.tolist()), dtype=np.float64, count=rows),
            raw_score=raw,
            reason_index=top,
            reason_contribution=contribution,
            reason_value=np.take_along_axis(given, top, axis=1),
            feature_names=self._names,
        )

    def _compiled_scores(self, given: F64, k: int) -> ModelScores:
        """``predict_arrays`` by the compiled kernel (``compiled.py``): the same bits, a loop per
        row in C instead of numpy calls per chunk."""
        assert self._kernel is not None
        rows = given.shape[0]
        raw = np.empty(rows, dtype=np.float64)
        probability = np.empty(rows, dtype=np.float64)
        top = np.empty((rows, k), dtype=np.int64)
        contribution = np.empty((rows, k), dtype=np.float64)
        value = np.empty((rows, k), dtype=np.float64)
        self._kernel.score(
            self._routed(given), given, k, raw, probability, top, contribution, value
        )
        return ModelScores(
            probability=probability,
            raw_score=raw,
            reason_index=top,
            reason_contribution=contribution,
            reason_value=value,
            feature_names=self._names,
        )

    def predict(
        self, matrix: npt.NDArray[np.float64], *, explain: int = 3
    ) -> list[ModelPrediction]:
        if explain > 0 and self._n > 0:
            given = self._matrix(matrix)
            if given.shape[0] == 1:  # the real-time path: one row, no per-chunk bookkeeping
                return [self._predict_row(self._routed(given)[0], given[0], min(explain, self._n))]
        scores = self.predict_arrays(matrix, explain=explain)
        if scores.reason_index.shape[1] == 0:
            return [
                ModelPrediction(probability=p, raw_score=r, model=self._ref)
                for p, r in zip(scores.probability.tolist(), scores.raw_score.tolist(), strict=True)
            ]
        return [
            self._prediction(r, idx, cs, vs)
            for r, idx, cs, vs in zip(
                scores.raw_score.tolist(),
                scores.reason_index.tolist(),
                scores.reason_contribution.tolist(),
                scores.reason_value.tolist(),
                strict=True,
            )
        ]

    def _predict_row(self, x: F64, given: F64, k: int) -> ModelPrediction:
        leaves = self._row_leaves(x)
        n = self._n
        sums = cast(
            F64,
            np.bincount(
                self._path_feature.take(leaves, axis=0).ravel(),
                self._neg_path_delta.take(leaves, axis=0).ravel(),
                n + 1,
            ),
        )
        top = _smallest(sums[None, :n], k)[0]
        return self._prediction(
            self._baseline - float(sums[n]),
            top.tolist(),
            (-sums.take(top)).tolist(),
            given.take(top).tolist(),
        )

    def _prediction(
        self, raw: float, idx: list[int], contrib: list[float], values: list[float]
    ) -> ModelPrediction:
        names = self._names
        return ModelPrediction(
            probability=_sigmoid(raw),
            raw_score=raw,
            reason_codes=tuple(
                ReasonCode(feature=names[i], contribution=c, value=None if v != v else v)
                for i, c, v in zip(idx, contrib, values, strict=True)
            ),
            model=self._ref,
        )


def _rebuilt(
    ensemble: CompiledEnsemble, names: tuple[str, ...], schema_version: str, ref: ModelRef
) -> TreeEnsembleModel:
    return TreeEnsembleModel(
        ensemble, feature_names=names, feature_schema_version=schema_version, ref=ref
    )
