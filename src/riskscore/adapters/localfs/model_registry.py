"""``LocalFsModelRegistry``: versioned tree models in a directory, crash-safe.

Layout::

    root/<NAME>/V1/model.npz          compiled arrays + feature names + schema version (no pickle)
    root/<NAME>/V1/metadata.json      ModelVersionInfo: metrics, params, library versions, ...
    root/<NAME>/V1/estimator.joblib   the scikit-learn estimator, optional, for audits/parity only
    root/<NAME>/default.json          {"history": ["V1", "V3"]}: the current default is the last
    root/<NAME>/.lock                 serializes writers (register/promote/rollback) across processes

Semantics (shared with ``InMemoryModelRegistry``, checked by the contract suite): versions ``V1``,
``V2``, ... in registration order; the first registered version becomes the default, later ones only
when promoted (``riskscore train --promote`` or ``riskscore models promote V2``); ``rollback`` returns
to the default before the current one.

Crash safety: a version is written into ``root/<NAME>/.tmp-<random>/`` and appears with one
``os.rename`` once complete, so a reader never sees a half-written version. ``default.json`` is
replaced with ``os.replace`` from a temporary file. A crash before the rename leaves only a ``.tmp-``
directory, which listing ignores and the next writer deletes; a crash after the rename and before the
first default is written leaves a complete version and no default yet: the next registration then
becomes the default (or promote the version by hand).

Loading reads ``model.npz`` with ``allow_pickle=False`` and never imports scikit-learn. A model whose
feature schema version differs from ``expected_schema_version`` is refused with ``SchemaMismatch``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from riskscore.adapters.treemodel.ensemble import EnsembleFormatError
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.domain.scoring import ModelRef
from riskscore.ports.model_registry import (
    DEFAULT_MODEL_NAME,
    DefaultPointer,
    InvalidModelName,
    ModelNotFound,
    ModelRegistry,
    ModelRegistryError,
    ModelVersionInfo,
    SchemaMismatch,
    version_label,
    version_number,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_TMP_PREFIX = ".tmp-"
MODEL_FILE = "model.npz"
METADATA_FILE = "metadata.json"
ESTIMATOR_FILE = "estimator.joblib"
DEFAULT_FILE = "default.json"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class LocalFsModelRegistry(ModelRegistry):
    """A file-system model registry rooted at ``root`` (created on first write)."""

    def __init__(
        self,
        root: Path,
        *,
        expected_schema_version: str | None,
        now: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.root = Path(root)
        self.expected_schema_version = expected_schema_version
        self._now = now

    # -- paths ----------------------------------------------------------------------------------
    def _model_dir(self, name: str) -> Path:
        if not _NAME.match(name):
            raise InvalidModelName(f"invalid model name {name!r}")
        return self.root / name

    def _version_dir(self, name: str, version: str) -> Path:
        if version_number(version) is None:
            raise ModelNotFound(f"{name}: {version!r} is not a version (expected V1, V2, ...)")
        return self._model_dir(name) / version

    def _versions(self, name: str) -> list[str]:
        model_dir = self._model_dir(name)
        try:
            entries = list(model_dir.iterdir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ModelRegistryError(f"cannot list {model_dir}: {exc.strerror}") from exc
        found = [
            (number, p.name)
            for p in entries
            if (number := version_number(p.name)) is not None and p.is_dir()
        ]
        return [label for _, label in sorted(found)]

    # -- default pointer --------------------------------------------------------------------------
    def _pointer(self, name: str) -> DefaultPointer:
        path = self._model_dir(name) / DEFAULT_FILE
        try:
            return msgspec.json.decode(path.read_bytes(), type=DefaultPointer)
        except FileNotFoundError:
            return DefaultPointer()
        except OSError as exc:
            raise ModelRegistryError(f"cannot read {path}: {exc.strerror}") from exc
        except msgspec.DecodeError as exc:
            raise ModelRegistryError(f"{path} is corrupt: {exc}") from exc

    def _write_pointer(self, name: str, pointer: DefaultPointer) -> None:
        model_dir = self._model_dir(name)
        tmp = model_dir / f"{_TMP_PREFIX}{uuid.uuid4().hex}.json"
        try:
            _write_file(tmp, msgspec.json.format(msgspec.json.encode(pointer), indent=2) + b"\n")
            os.replace(tmp, model_dir / DEFAULT_FILE)
            _fsync_dir(model_dir)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ModelRegistryError(f"cannot write the default of {name}: {exc}") from exc

    @contextlib.contextmanager
    def _writer(self, name: str) -> Iterator[Path]:
        """Hold the per-model write lock; clear leftovers of writers that crashed."""
        model_dir = self._model_dir(name)
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
            lock = (model_dir / ".lock").open("a+")
        except OSError as exc:
            raise ModelRegistryError(f"cannot write to {model_dir}: {exc.strerror}") from exc
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                for leftover in model_dir.glob(f"{_TMP_PREFIX}*"):
                    if leftover.is_dir():
                        shutil.rmtree(leftover, ignore_errors=True)
                    else:
                        leftover.unlink(missing_ok=True)
                yield model_dir
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    # -- ModelRegistry ----------------------------------------------------------------------------
    def list_versions(self, name: str = DEFAULT_MODEL_NAME) -> list[ModelVersionInfo]:
        default = self._pointer(name).default
        return [
            msgspec.structs.replace(self._info(name, v), is_default=v == default)
            for v in self._versions(name)
        ]

    def default_version(self, name: str = DEFAULT_MODEL_NAME) -> str | None:
        return self._pointer(name).default

    def _info(self, name: str, version: str) -> ModelVersionInfo:
        path = self._version_dir(name, version) / METADATA_FILE
        try:
            return msgspec.json.decode(path.read_bytes(), type=ModelVersionInfo)
        except FileNotFoundError as exc:
            raise ModelNotFound(f"{name} has no version {version}") from exc
        except OSError as exc:
            raise ModelRegistryError(f"cannot read {path}: {exc.strerror}") from exc
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ModelRegistryError(f"{path} is corrupt: {exc}") from exc

    def load(self, name: str = DEFAULT_MODEL_NAME, version: str | None = None) -> TreeEnsembleModel:
        if version is None:
            version = self.default_version(name)
            if version is None:
                raise ModelNotFound(f"{name} has no default version; train or promote one")
        info = self._info(name, version)
        expected = self.expected_schema_version
        if expected is not None and info.feature_schema_version != expected:
            raise SchemaMismatch(
                f"{name} {version} was trained on feature schema {info.feature_schema_version}, "
                f"but this code computes schema {expected}; retrain (riskscore train) or run the "
                "code version the model was trained with"
            )
        path = self._version_dir(name, version) / MODEL_FILE
        try:
            model = TreeEnsembleModel.load(path, ref=ModelRef(name=name, version=version))
        except EnsembleFormatError as exc:
            raise ModelRegistryError(f"{name} {version}: {exc}") from exc
        if model.feature_schema_version != info.feature_schema_version:
            raise ModelRegistryError(
                f"{name} {version}: model file and metadata disagree on schema"
            )
        return model

    def promote(self, version: str, name: str = DEFAULT_MODEL_NAME) -> None:
        with self._writer(name):
            if version not in self._versions(name):
                raise ModelNotFound(f"{name} has no version {version}")
            pointer = self._pointer(name)
            promoted = pointer.promote(version)
            if promoted != pointer:
                self._write_pointer(name, promoted)

    def rollback(self, name: str = DEFAULT_MODEL_NAME) -> str:
        with self._writer(name):
            pointer = self._pointer(name).rollback()
            self._write_pointer(name, pointer)
            assert pointer.default is not None  # rollback keeps at least one entry
            return pointer.default

    # -- write side -------------------------------------------------------------------------------
    def register(
        self,
        model: TreeEnsembleModel,
        *,
        metrics: dict[str, float],
        params: dict[str, str],
        training_data_fingerprint: str,
        name: str = DEFAULT_MODEL_NAME,
        library_versions: dict[str, str] | None = None,
        estimator: Any = None,
    ) -> ModelVersionInfo:
        """Store ``model`` as the next version of ``name`` and answer its info.

        The first version of a name becomes its default; later ones need ``promote``. ``estimator``
        (the fitted scikit-learn object) is kept as ``estimator.joblib`` for audits; scoring never
        reads it.
        """
        with self._writer(name) as model_dir:
            existing = self._versions(name)
            number = max((version_number(v) or 0 for v in existing), default=0) + 1
            version = version_label(number)
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
            tmp = model_dir / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
            try:
                tmp.mkdir()
                self._write_version(tmp, model, info, estimator)
                os.rename(tmp, model_dir / version)
                _fsync_dir(model_dir)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise ModelRegistryError(f"cannot register {name} {version}: {exc}") from exc
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            pointer = self._pointer(name)
            if pointer.default is None:
                self._write_pointer(name, pointer.promote(version))
                return msgspec.structs.replace(info, is_default=True)
            return info

    def _write_version(
        self, directory: Path, model: TreeEnsembleModel, info: ModelVersionInfo, estimator: Any
    ) -> None:
        model.save(directory / MODEL_FILE)
        if estimator is not None:
            import joblib

            joblib.dump(estimator, directory / ESTIMATOR_FILE)
        _write_file(
            directory / METADATA_FILE,
            msgspec.json.format(msgspec.json.encode(info), indent=2) + b"\n",
        )
        with (directory / MODEL_FILE).open("rb") as fh:
            os.fsync(fh.fileno())
        _fsync_dir(directory)

    def load_estimator(self, version: str, name: str = DEFAULT_MODEL_NAME) -> Any:
        """The scikit-learn estimator kept with a version (pickle: only for trusted registries)."""
        path = self._version_dir(name, version) / ESTIMATOR_FILE
        if not path.exists():
            raise ModelNotFound(f"{name} {version} was registered without its estimator")
        import joblib

        return joblib.load(path)
