"""The Snowflake Model Registry (snowflake-ml-python) as riskscore's ``ModelRegistry``.

How riskscore's model metadata maps onto the registry (the pure functions below do the translation):

- A riskscore model (default ``EVIDENCE_RISK_MODEL``) is a registry model in ``<database>.ML_MODELS``;
  its versions are named ``V1``, ``V2``, ... (the next free number on ``register``).
- Numeric training metrics are version metrics (``ModelVersion.show_metrics()``). The rest of
  ``ModelVersionInfo`` (feature schema version, params, library versions, training-data fingerprint)
  is one more metric, ``riskscore_metadata``, holding an object: metrics accept any JSON value and
  are the one per-version key/value store every registry version has.
- The default version is the registry's own (``model.default``, i.e. ``ALTER MODEL ... SET
  DEFAULT_VERSION``), so Snowflake users and ``MODEL(...)!PREDICT`` see the same default.
- Promotion history (for ``rollback``) lives in the model's comment as JSON
  (``{"riskscore_default_history": ["V1", "V2"]}``). A tag would need a TAG object and APPLY TAG
  privileges; the comment belongs to the model, is visible in ``SHOW MODELS`` and needs no setup.
- A logged version is a snowflake-ml ``CustomModel`` (``snowflake_ml_model.RiskScoreCustomModel``) whose
  one artifact is riskscore's compiled ensemble file (``.npz``, no pickle) and whose method
  ``predict_proba`` answers ``output_feature_0`` / ``output_feature_1`` like riskscore's model
  service, so ``create_service`` gives a service the httpx model client can call.

snowflake-ml-python is imported only inside functions (the ``snowflake`` extra). A Snowpark session
cannot run on fakesnow, so the adapter is tested against a recording fake of ``Registry``/``Model``/
``ModelVersion`` and, with real credentials, by ``tests/live``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from riskscore.domain.scoring import ModelRef
from riskscore.ports.model_registry import (
    DEFAULT_MODEL_NAME,
    ModelNotFound,
    ModelRegistry,
    ModelRegistryError,
    ModelVersionInfo,
    NoPreviousVersion,
    SchemaMismatch,
    ScoringModel,
    version_label,
    version_number,
)

METADATA_METRIC = "riskscore_metadata"
HISTORY_KEY = "riskscore_default_history"
MODEL_ARTIFACT = "ensemble"
OUTPUT_COLUMNS = ("output_feature_0", "output_feature_1")
DEFAULT_SERVICE_NAME = "RISK_MODEL_SVC"


# -- what the adapter needs from snowflake-ml (the real objects satisfy these) -----------------------
class ModelVersionLike(Protocol):
    @property
    def version_name(self) -> str: ...

    def show_metrics(self) -> dict[str, Any]: ...

    def load(self, *, force: bool = ...) -> Any: ...

    def create_service(self, **kwargs: Any) -> Any: ...


class ModelLike(Protocol):
    comment: str
    default: Any

    def versions(self) -> list[Any]: ...

    def version(self, version_or_alias: str) -> Any: ...

    def show_versions(self) -> Any: ...


class RegistryLike(Protocol):
    def get_model(self, model_name: str) -> Any: ...

    def log_model(self, model: Any, **kwargs: Any) -> Any: ...


# -- pure translation between riskscore metadata and registry calls --------------------------------
def metrics_for_log(
    metrics: Mapping[str, float],
    *,
    feature_schema_version: str,
    params: Mapping[str, str] | None = None,
    library_versions: Mapping[str, str] | None = None,
    training_data_fingerprint: str = "",
) -> dict[str, Any]:
    """The ``metrics=`` argument of ``Registry.log_model`` for one riskscore model version."""
    if METADATA_METRIC in metrics:
        raise ValueError(f"{METADATA_METRIC} is reserved")
    logged: dict[str, Any] = {name: float(value) for name, value in metrics.items()}
    logged[METADATA_METRIC] = {
        "feature_schema_version": feature_schema_version,
        "params": dict(params or {}),
        "library_versions": dict(library_versions or {}),
        "training_data_fingerprint": training_data_fingerprint,
    }
    return logged


def version_info(
    name: str,
    version: str,
    *,
    created_at: dt.datetime,
    metrics: Mapping[str, Any],
    is_default: bool,
) -> ModelVersionInfo:
    """A ``ModelVersionInfo`` from what the registry shows for a version."""
    meta = metrics.get(METADATA_METRIC)
    if isinstance(meta, str):  # some clients hand nested metric values back as JSON text
        meta = json.loads(meta)
    meta = meta if isinstance(meta, dict) else {}
    numeric = {
        key: float(value)
        for key, value in metrics.items()
        if key != METADATA_METRIC and isinstance(value, int | float) and not isinstance(value, bool)
    }
    return ModelVersionInfo(
        name=name,
        version=version,
        created_at=created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.UTC),
        feature_schema_version=str(meta.get("feature_schema_version", "")),
        metrics=numeric,
        params={str(k): str(v) for k, v in dict(meta.get("params") or {}).items()},
        library_versions={
            str(k): str(v) for k, v in dict(meta.get("library_versions") or {}).items()
        },
        training_data_fingerprint=str(meta.get("training_data_fingerprint", "")),
        is_default=is_default,
    )


def next_version(existing: Iterable[str]) -> str:
    """``V<n+1>`` after the highest ``V<n>`` (names that are not version labels are ignored)."""
    numbers = [n for n in (version_number(v.upper()) for v in existing) if n is not None]
    return version_label(max(numbers, default=0) + 1)


def signature_columns(feature_names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Input columns (one DOUBLE per feature, schema order) and output columns of ``predict_proba``."""
    if len(set(feature_names)) != len(feature_names) or not feature_names:
        raise ValueError("feature names must be non-empty and unique")
    return list(feature_names), list(OUTPUT_COLUMNS)


def read_history(comment: str | None) -> list[str]:
    """Promotion history kept in the model comment; an unrelated or empty comment means none."""
    if not comment:
        return []
    try:
        document = json.loads(comment)
    except ValueError:
        return []
    history = document.get(HISTORY_KEY) if isinstance(document, dict) else None
    return [str(v) for v in history] if isinstance(history, list) else []


def write_history(history: Sequence[str]) -> str:
    return json.dumps({HISTORY_KEY: list(history)}, separators=(",", ":"))


def promoted(history: Sequence[str], current_default: str | None, version: str) -> list[str]:
    """History after making ``version`` the default (promoting the current default changes nothing)."""
    trail = list(history)
    if current_default and (not trail or trail[-1] != current_default):
        trail.append(current_default)  # a default set outside riskscore joins the trail
    if trail and trail[-1] == version:
        return trail
    return [*trail, version]


def rolled_back(history: Sequence[str], current_default: str | None) -> tuple[list[str], str]:
    """History after a rollback and the version that becomes default."""
    trail = list(history)
    if current_default and (not trail or trail[-1] != current_default):
        trail.append(current_default)
    if len(trail) < 2:
        raise NoPreviousVersion("no earlier default version to return to")
    trail.pop()
    return trail, trail[-1]


def _created_at(row: Mapping[str, Any]) -> dt.datetime:
    value: Any = row.get("created_on")
    if isinstance(value, dt.datetime):  # also a pandas Timestamp
        return value
    return dt.datetime.fromtimestamp(0, dt.UTC)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _load_ensemble(path: Path, ref: ModelRef) -> ScoringModel:
    from riskscore.adapters.treemodel.predictor import TreeEnsembleModel

    return TreeEnsembleModel.load(path, ref=ref)


class SnowflakeModelRegistry(ModelRegistry):
    """``ModelRegistry`` over a snowflake-ml ``Registry`` (created lazily by ``registry_factory``)."""

    def __init__(
        self,
        registry_factory: Callable[[], RegistryLike],
        *,
        expected_schema_version: str,
        loader: Callable[[Path, ModelRef], ScoringModel] = _load_ensemble,
    ) -> None:
        self._factory = registry_factory
        self._registry: RegistryLike | None = None
        self._expected_schema = expected_schema_version
        self._loader = loader

    # -- the port -----------------------------------------------------------------------------
    def list_versions(self, name: str = DEFAULT_MODEL_NAME) -> list[ModelVersionInfo]:
        model = self._model(name)
        rows: list[dict[str, Any]] = self._call(
            "show versions", lambda: _rows(model.show_versions())
        )
        infos: list[ModelVersionInfo] = []
        for row in rows:
            version = str(row["name"])
            mv = self._version(model, name, version)
            metrics: dict[str, Any] = self._call("show metrics", mv.show_metrics)
            infos.append(
                version_info(
                    name,
                    version,
                    created_at=_created_at(row),
                    metrics=metrics,
                    is_default=_truthy(row.get("is_default_version")),
                )
            )
        return sorted(infos, key=lambda i: (version_number(i.version) or 0, i.version))

    def default_version(self, name: str = DEFAULT_MODEL_NAME) -> str | None:
        model = self._model(name)
        default = self._call("read the default version", lambda: model.default)
        return None if default is None else str(default.version_name)

    def load(self, name: str = DEFAULT_MODEL_NAME, version: str | None = None) -> ScoringModel:
        model = self._model(name)
        chosen = version or self.default_version(name)
        if chosen is None:
            raise ModelNotFound(f"{name} has no default version")
        mv = self._version(model, name, chosen)
        info = version_info(
            name,
            chosen,
            created_at=dt.datetime.now(dt.UTC),
            metrics=self._call("show metrics", mv.show_metrics),
            is_default=False,
        )
        if info.feature_schema_version != self._expected_schema:
            raise SchemaMismatch(
                f"{name} {chosen} was trained on feature schema {info.feature_schema_version!r},"
                f" the running code computes {self._expected_schema!r}"
            )
        custom = self._call("load the model", lambda: mv.load(force=True))
        try:
            artifact = Path(custom.context.path(MODEL_ARTIFACT))
        except (AttributeError, KeyError) as exc:
            raise ModelRegistryError(f"{name} {chosen} is not a riskscore model: {exc}") from exc
        return self._loader(artifact, ModelRef(name=name, version=chosen))

    def promote(self, version: str, name: str = DEFAULT_MODEL_NAME) -> None:
        model = self._model(name)
        self._version(model, name, version)  # refuse an unknown version before changing anything
        current = self.default_version(name)
        history = promoted(read_history(model.comment), current, version)
        self._call("set the default version", lambda: setattr(model, "default", version))
        self._call(
            "record the promotion", lambda: setattr(model, "comment", write_history(history))
        )

    def rollback(self, name: str = DEFAULT_MODEL_NAME) -> str:
        model = self._model(name)
        history, previous = rolled_back(read_history(model.comment), self.default_version(name))
        self._call("set the default version", lambda: setattr(model, "default", previous))
        self._call("record the rollback", lambda: setattr(model, "comment", write_history(history)))
        return previous

    # -- beyond the port: registering and serving ---------------------------------------------
    def register(
        self,
        model_file: Path,
        *,
        feature_names: Sequence[str],
        feature_schema_version: str,
        metrics: Mapping[str, float],
        name: str = DEFAULT_MODEL_NAME,
        params: Mapping[str, str] | None = None,
        library_versions: Mapping[str, str] | None = None,
        training_data_fingerprint: str = "",
        comment: str | None = None,
    ) -> ModelVersionInfo:
        """Log a compiled ensemble file as the next version ``V<n>`` (not made default)."""
        existing = self._existing_versions(name)
        version = next_version(existing)
        inputs, outputs = signature_columns(feature_names)
        logged_metrics = metrics_for_log(
            metrics,
            feature_schema_version=feature_schema_version,
            params=params,
            library_versions=library_versions,
            training_data_fingerprint=training_data_fingerprint,
        )
        from riskscore.adapters.snowflake.snowflake_ml_model import (
            build_custom_model,
            build_signature,
        )

        custom = build_custom_model(model_file)
        kwargs: dict[str, Any] = {
            "model_name": name,
            "version_name": version,
            "comment": comment
            or f"riskscore {name} {version} (feature schema {feature_schema_version})",
            "metrics": logged_metrics,
            "signatures": {"predict_proba": build_signature(inputs, outputs)},
            "pip_requirements": ["numpy", "msgspec"],
            "code_paths": [str(Path(__file__).resolve().parents[2])],  # the riskscore package
            "target_platforms": ["SNOWPARK_CONTAINER_SERVICES"],
            "options": {"relax_version": True},
        }
        self._call("log the model", lambda: self._reg().log_model(custom, **kwargs))
        return version_info(
            name,
            version,
            created_at=dt.datetime.now(dt.UTC),
            metrics=logged_metrics,
            is_default=False,
        )

    def create_service(
        self,
        *,
        compute_pool: str,
        service_name: str = DEFAULT_SERVICE_NAME,
        name: str = DEFAULT_MODEL_NAME,
        version: str | None = None,
        image_repo: str | None = None,
        ingress_enabled: bool = False,
        min_instances: int = 1,
        max_instances: int = 1,
        cpu_requests: str | None = None,
        memory_requests: str | None = None,
    ) -> str:
        """Have Snowflake build and run an inference service for a version (default: the default).

        The service speaks the protocol of riskscore's own model service on the endpoint
        ``inference``; read its port with ``SHOW ENDPOINTS IN SERVICE`` before pointing
        ``RISKSCORE_MODEL_URL`` at it (deploy/README.md). ``min_instances=1`` keeps it warm; 0 lets
        Snowflake suspend it when idle.
        """
        model = self._model(name)
        chosen = version or self.default_version(name)
        if chosen is None:
            raise ModelNotFound(f"{name} has no default version to serve")
        mv = self._version(model, name, chosen)
        kwargs: dict[str, Any] = {
            "service_name": service_name,
            "service_compute_pool": compute_pool,
            "ingress_enabled": ingress_enabled,
            "min_instances": min_instances,
            "max_instances": max_instances,
        }
        optional = {
            "image_repo": image_repo,
            "cpu_requests": cpu_requests,
            "memory_requests": memory_requests,
        }
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        self._call("create the service", lambda: mv.create_service(**kwargs))
        return service_name

    # -- plumbing -----------------------------------------------------------------------------
    def _reg(self) -> RegistryLike:
        if self._registry is None:
            self._registry = self._call("open the registry", self._factory)
        return self._registry

    def _model(self, name: str) -> ModelLike:
        registry = self._reg()
        model: ModelLike = _lookup(lambda: registry.get_model(name), f"model {name}")
        return model

    def _version(self, model: ModelLike, name: str, version: str) -> ModelVersionLike:
        mv: ModelVersionLike = _lookup(lambda: model.version(version), f"{name} {version}")
        return mv

    def _existing_versions(self, name: str) -> list[str]:
        try:
            model = self._model(name)
        except ModelNotFound:
            return []
        return [str(mv.version_name) for mv in self._call("list versions", model.versions)]

    @staticmethod
    def _call(what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except ModelRegistryError:
            raise
        except Exception as exc:
            raise ModelRegistryError(
                f"Snowflake Model Registry: cannot {what}: {type(exc).__name__}: {exc}"
            ) from exc


def _lookup(find: Callable[[], Any], what: str) -> Any:
    """snowflake-ml signals an unknown model or version with ValueError/KeyError."""
    try:
        return find()
    except (ValueError, KeyError, LookupError) as exc:
        raise ModelNotFound(f"no {what} in the registry") from exc
    except Exception as exc:
        raise ModelRegistryError(f"cannot read {what}: {type(exc).__name__}: {exc}") from exc


def _rows(frame: Any) -> list[dict[str, Any]]:
    """Rows of ``show_versions()`` (a pandas DataFrame) or of an already plain list of mappings."""
    if hasattr(frame, "to_dict"):
        records: list[dict[str, Any]] = frame.to_dict("records")
        return records
    return [dict(row) for row in frame]


def snowflake_ml_registry_factory(
    connect_kwargs: Callable[[], Mapping[str, Any]], *, database: str
) -> Callable[[], RegistryLike]:
    """A factory of snowflake-ml ``Registry`` objects on ``<database>.ML_MODELS`` over a Snowpark
    session opened with the connector's parameters (read when called: an SPCS token is refreshed)."""

    def factory() -> RegistryLike:
        from snowflake.ml.registry import Registry
        from snowflake.snowpark import Session

        session = Session.builder.configs(dict(connect_kwargs())).create()
        registry: RegistryLike = Registry(
            session=session, database_name=database, schema_name="ML_MODELS"
        )
        return registry

    return factory
