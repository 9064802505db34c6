"""Versioned models: list, load, promote, roll back.

A loaded model is a ``ScoringModel``: it scores a matrix of feature rows synchronously. The API reaches
it through a ``ModelClient``; batch rescoring calls it directly.
"""

from __future__ import annotations

import datetime as dt
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
        """Score rows of a 2-D float64 matrix in schema order; ``explain`` reason codes per row."""
        ...

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Positive-class probability per row, without reason codes (the fast batch path)."""
        ...


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
        """Return to the previous default; answers the version now default."""
        ...
