"""Settings: one frozen struct read from ``RISKSCORE_*`` environment variables at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = ".riskscore"
    backend: Literal["local", "snowflake"] = "local"
    model_client: Literal["inprocess", "http"] = "inprocess"
    model_url: str = "http://127.0.0.1:5000"
    model_name: str = "EVIDENCE_RISK_MODEL"
    api_key: str | None = None
    # Evidence limits (per document).
    max_xml_bytes: PositiveInt = 1_048_576
    max_xml_depth: PositiveInt = 64
    # HTTP limits.
    max_request_bytes: PositiveInt = 4_194_304
    max_batch_rows: PositiveInt = 2_000
    max_batch_bytes: PositiveInt = 67_108_864  # body limit of the service-function batch route
    max_inflight: PositiveInt = 256  # scoring requests in progress before 503 "overloaded"
    workers: PositiveInt = 1  # API processes (`serve --workers`); production: one per core
    # How rescoring starts its worker processes; auto: fork on Linux when single-threaded, else
    # forkserver (docs/rescoring.md).
    rescore_start: Literal["auto", "fork", "forkserver", "spawn"] = "auto"
    # Model client (http mode).
    model_timeout_s: PositiveFloat = 2.0
    model_retries: int = 1
    # asyncio: riskscore's light HTTP/1.1 transport; httpx: httpx's stock one (TLS, HTTP/2).
    model_http_transport: Literal["asyncio", "httpx"] = "asyncio"
    breaker_failures: PositiveInt = 5
    breaker_reset_s: PositiveFloat = 2.0
    # Risk classes: exclusive upper bounds of the probability.
    threshold_preferred: float = 0.05
    threshold_standard: float = 0.15
    threshold_substandard: float = 0.35
    reason_codes: int = 3
    # Audit trail.
    audit_batch_size: PositiveInt = 500
    audit_flush_interval_s: PositiveFloat = 0.05
    audit_fsync: bool = False
    # Snowflake backend: connection parameters come from SNOWFLAKE_* env vars.
    snowflake_database: str = "RISKSCORE"
    snowflake_warehouse: str | None = None
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"

    @property
    def sqlite_path(self) -> Path:
        return Path(self.data_dir) / "riskscore.sqlite3"

    @property
    def registry_dir(self) -> Path:
        return Path(self.data_dir) / "registry"

    @property
    def journal_dir(self) -> Path:
        return Path(self.data_dir) / "journal"


_PREFIX = "RISKSCORE_"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build ``Settings`` from ``RISKSCORE_*`` variables (unknown ones are an error) and overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {
        key[len(_PREFIX) :].lower(): value for key, value in env.items() if key.startswith(_PREFIX)
    }
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid RISKSCORE_* setting: {exc}") from exc
