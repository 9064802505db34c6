"""``InMemoryModelRegistry``: the registry fake for tests, with ``LocalFsModelRegistry``'s semantics.

It keeps registered model objects in a dict (nothing is serialized) and passes the same contract
suite: ``V1``, ``V2``, ... versions, the first registered version as default, promote and rollback
through a ``DefaultPointer`` history, and ``SchemaMismatch`` on load when the model's feature schema
is not ``expected_schema_version``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from riskscore.domain.scoring import ModelRef
from riskscore.ports.model_registry import (
    DEFAULT_MODEL_NAME,
    DefaultPointer,
    ModelNotFound,
    ModelRegistry,
    ModelVersionInfo,
    RegistrableModel,
    SchemaMismatch,
    ScoringModel,
    version_label,
)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InMemoryModelRegistry(ModelRegistry):
    def __init__(
        self,
        *,
        expected_schema_version: str | None,
        now: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.expected_schema_version = expected_schema_version
        self._now = now
        self._lock = threading.Lock()
        self._models: dict[str, list[tuple[ModelVersionInfo, ScoringModel]]] = {}
        self._pointers: dict[str, DefaultPointer] = {}

    def list_versions(self, name: str = DEFAULT_MODEL_NAME) -> list[ModelVersionInfo]:
        with self._lock:
            default = self._pointers.get(name, DefaultPointer()).default
            return [
                msgspec.structs.replace(info, is_default=info.version == default)
                for info, _ in self._models.get(name, [])
            ]

    def default_version(self, name: str = DEFAULT_MODEL_NAME) -> str | None:
        with self._lock:
            return self._pointers.get(name, DefaultPointer()).default

    def _entry(self, name: str, version: str) -> tuple[ModelVersionInfo, ScoringModel]:
        for info, model in self._models.get(name, []):
            if info.version == version:
                return info, model
        raise ModelNotFound(f"{name} has no version {version}")

    def load(self, name: str = DEFAULT_MODEL_NAME, version: str | None = None) -> ScoringModel:
        with self._lock:
            if version is None:
                version = self._pointers.get(name, DefaultPointer()).default
                if version is None:
                    raise ModelNotFound(f"{name} has no default version; train or promote one")
            info, model = self._entry(name, version)
        expected = self.expected_schema_version
        if expected is not None and info.feature_schema_version != expected:
            raise SchemaMismatch(
                f"{name} {version} was trained on feature schema {info.feature_schema_version}, "
                f"but this code computes schema {expected}"
            )
        return model

    def promote(self, version: str, name: str = DEFAULT_MODEL_NAME) -> None:
        with self._lock:
            self._entry(name, version)
            self._pointers[name] = self._pointers.get(name, DefaultPointer()).promote(version)

    def rollback(self, name: str = DEFAULT_MODEL_NAME) -> str:
        with self._lock:
            pointer = self._pointers.get(name, DefaultPointer()).rollback()
            self._pointers[name] = pointer
            assert pointer.default is not None  # rollback keeps at least one entry
            return pointer.default

    def register(
        self,
        model: RegistrableModel,
        *,
        metrics: dict[str, float],
        params: dict[str, str],
        training_data_fingerprint: str,
        name: str = DEFAULT_MODEL_NAME,
        library_versions: dict[str, str] | None = None,
        estimator: Any = None,
    ) -> ModelVersionInfo:
        """Same contract as ``LocalFsModelRegistry.register``; ``estimator`` is ignored."""
        del estimator
        with self._lock:
            versions = self._models.setdefault(name, [])
            version = version_label(len(versions) + 1)
            info = ModelVersionInfo(
                name=name,
                version=version,
                created_at=self._now(),
                feature_schema_version=model.feature_schema_version,
                metrics=dict(metrics),
                params=dict(params),
                library_versions=dict(library_versions or {}),
                training_data_fingerprint=training_data_fingerprint,
            )
            versions.append((info, model.with_ref(ModelRef(name=name, version=version))))
            pointer = self._pointers.get(name, DefaultPointer())
            if pointer.default is None:
                self._pointers[name] = pointer.promote(version)
                return msgspec.structs.replace(info, is_default=True)
            return info
