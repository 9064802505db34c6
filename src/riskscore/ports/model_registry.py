"""Versioned models: list, load, promote, roll back.

A loaded model is a ``ScoringModel``: it scores a matrix of feature rows synchronously. The API reaches
it through a ``ModelClient``; batch rescoring calls it directly.

Registry semantics every adapter keeps (the contract suite checks them): versions are ``V1``, ``V2``,
... in registration order; the first version registered under a name becomes its default, later ones
do not until promoted; the defaults form a history, and ``rollback`` returns to the one before the
current (``DefaultPointer`` implements exactly this, so adapters share it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import msgspec
import numpy as np
import numpy.typing as npt

from riskscore.domain.scoring import ModelPrediction, ModelRef

DEFAULT_MODEL_NAME = "EVIDENCE_RISK_MODEL"


class ModelRegistryError(Exception):
    """Base of registry failures."""


class ModelNotFound(ModelRegistryError):
    pass


class SchemaMismatch(ModelRegistryError):
    """The model was trained on another feature schema than the running code computes."""


class NoPreviousVersion(ModelRegistryError):
    """``rollback`` found no earlier default version to return to."""


class InvalidModelName(ModelRegistryError, ValueError):
    """A model name or version that the registry cannot store (names become directory names)."""


class InvalidFeatureMatrix(ValueError):
    """A ``ScoringModel`` got a matrix it cannot score (not numeric, not 2-D, wrong column count)."""


class ModelVersionInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str
    created_at: dt.datetime
    feature_schema_version: str
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    library_versions: dict[str, str] = {}
    training_data_fingerprint: str = ""
    is_default: bool = False


@runtime_checkable
class ScoringModel(Protocol):
    @property
    def ref(self) -> ModelRef: ...

    @property
    def feature_schema_version(self) -> str: ...

    def predict(
        self, matrix: npt.NDArray[np.float64], *, explain: int = 3
    ) -> list[ModelPrediction]:
        """Score rows of a 2-D float64 matrix in schema order; ``explain`` reason codes per row.

        Raises ``InvalidFeatureMatrix`` for a matrix of the wrong shape or type.
        """
        ...

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Positive-class probability per row, without reason codes (the fast batch path)."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class ModelScores:
    """A matrix's scores as arrays, one entry per row: ``predict``'s numbers without per-row structs.

    ``reason_index[i, j]`` is the column (in ``feature_names``) of row ``i``'s ``j``-th reason code,
    ``-1`` where the row has fewer codes; ``reason_value`` holds the row's own value of that feature
    (NaN: missing, a ``ReasonCode.value`` of None).
    """

    probability: npt.NDArray[np.float64]
    raw_score: npt.NDArray[np.float64]
    reason_index: npt.NDArray[np.int64]
    reason_contribution: npt.NDArray[np.float64]
    reason_value: npt.NDArray[np.float64]
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.probability.shape[0])


@runtime_checkable
class ScoresInArrays(Protocol):
    """Optional capability of a ``ScoringModel``: batch rescoring uses it when present."""

    def predict_arrays(self, matrix: npt.NDArray[np.float64], *, explain: int = 3) -> ModelScores:
        """Exactly ``predict``'s probabilities, raw scores and reason codes, as arrays."""
        ...


@runtime_checkable
class RegistrableModel(ScoringModel, Protocol):
    """A model a registry can store: it can be re-labelled with the version the registry assigns."""

    def with_ref(self, ref: ModelRef) -> RegistrableModel: ...


@runtime_checkable
class ModelRegistry(Protocol):
    def list_versions(self, name: str = DEFAULT_MODEL_NAME) -> list[ModelVersionInfo]: ...

    def default_version(self, name: str = DEFAULT_MODEL_NAME) -> str | None: ...

    def load(self, name: str = DEFAULT_MODEL_NAME, version: str | None = None) -> ScoringModel:
        """Load a version (the default when None); refuses a schema other than the running one."""
        ...

    def promote(self, version: str, name: str = DEFAULT_MODEL_NAME) -> None:
        """Make ``version`` the default."""
        ...

    def rollback(self, name: str = DEFAULT_MODEL_NAME) -> str:
        """Return to the previous default; answers the version now default.

        Raises ``NoPreviousVersion`` when there is no earlier default to return to.
        """
        ...


def version_label(number: int) -> str:
    """Version names are ``V1``, ``V2``, ... (the Snowflake Model Registry convention riskscore keeps)."""
    if number < 1:
        raise ValueError("version numbers start at 1")
    return f"V{number}"


def version_number(label: str) -> int | None:
    """``V7`` -> 7; None for anything that is not a version label."""
    if len(label) < 2 or label[0] != "V" or not label[1:].isdigit() or label[1] == "0":
        return None
    return int(label[1:])


class DefaultPointer(msgspec.Struct, frozen=True, kw_only=True):
    """Which version is the default and which were before it (oldest first, current last)."""

    history: tuple[str, ...] = ()

    @property
    def default(self) -> str | None:
        return self.history[-1] if self.history else None

    def promote(self, version: str) -> DefaultPointer:
        """Make ``version`` the default; promoting the current default changes nothing."""
        if version == self.default:
            return self
        return DefaultPointer(history=(*self.history, version))

    def rollback(self) -> DefaultPointer:
        if len(self.history) < 2:
            current = self.default or "none"
            raise NoPreviousVersion(
                f"no earlier default to roll back to (current default: {current})"
            )
        return DefaultPointer(history=self.history[:-1])
