"""Asking a model for scores: in-process or through the model service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import ModelPrediction


class ModelClientError(Exception):
    """Base of model-client failures."""


class ModelUnavailable(ModelClientError):
    """No model answered (not loaded, service down, circuit open, timeout). Retryable."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelInputError(ModelClientError):
    """The model refused the input (wrong feature count, schema version mismatch). Not retryable."""


@runtime_checkable
class ModelClient(Protocol):
    async def predict(
        self, vectors: Sequence[FeatureVector], *, explain: int = 3
    ) -> list[ModelPrediction]:
        """One prediction per vector, same order, in one model call. ``explain`` reason codes each."""
        ...

    async def ready(self) -> bool:
        """True when a model is loaded and answering."""
        ...

    async def aclose(self) -> None: ...
