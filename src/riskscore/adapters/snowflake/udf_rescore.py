"""In-warehouse rescoring: the handler of the vectorized Python UDF ``RESCORE(MIB_XML, RX_XML[, AS_OF])``.

Snowflake calls a vectorized UDF with one batch of rows as a pandas DataFrame whose columns are the
arguments by position (0: ``MIB_XML``, 1: ``RX_XML``, 2: ``AS_OF`` for the three-argument overload) and
expects a pandas Series with one value per row, same order; for ``RETURNS VARIANT`` each value is a
dict (Snowflake docs, "Vectorized Python UDFs"). The SQL in ``deploy/sql/10_rescore_udf.sql`` marks
its inline handler with ``@_snowflake.vectorized(input=pandas.DataFrame)`` and calls
``rescore_frame`` here; nothing in this module imports ``_snowflake``, so it runs and is tested
locally with plain pandas batches.

Each row's value: ``{"risk_score", "risk_class", "model_name", "model_version",
"feature_schema_version", "reason_codes", "error"}``; ``error`` is null for a scored row, and for a
refused row (bad or NULL XML, a bad date) ``{"type", "title", "detail"}`` with the score fields null.
A bad row never fails the query.

The scoring is the batch use case ``RescorePolicies`` with the hardened ``LxmlEvidenceParser`` and
``extract_features``: the same code as the API and ``riskscore rescore``, one model call per batch.
The compiled model (``model.npz``, no pickle) and its registry ``metadata.json`` (name, version) are
read once per Python process from the UDF's import directory (``sys._xoptions
["snowflake_import_directory"]``, where Snowflake copies the ``IMPORTS`` files), and reused by every
batch that process handles. Risk classes use the default ``RiskClassThresholds`` unless a
``rescore_config.json`` import gives ``{"thresholds": {...}, "explain": k}``.

Dependencies inside the warehouse: numpy (2.x: the predictor uses ``numpy.bitwise_count``), pandas,
lxml, msgspec, from Snowflake's Anaconda channel, plus the riskscore wheel (imported from the stage);
this module and what it imports need nothing else (a test checks no server, store or Snowflake
connector module is imported).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from riskscore.adapters.system_clock import SystemClock
from riskscore.domain.scoring import ModelRef, RiskClassThresholds
from riskscore.domain.usecases.rescore import (
    DEFAULT_EXPLAIN,
    RescoreFailure,
    RescoreInput,
    RescorePolicies,
    UnreadableRow,
)
from riskscore.domain.usecases.score_policy import ScoreRequest

IMPORT_DIRECTORY_OPTION = "snowflake_import_directory"
IMPORT_DIRECTORY_ENV = "RISKSCORE_UDF_IMPORT_DIR"
"""Where to find the imports outside Snowflake (local trials); Snowflake's own option wins."""
MODEL_FILE = "model.npz"
METADATA_FILE = "metadata.json"
CONFIG_FILE = "rescore_config.json"
ROW_PREFIX = "UDF-ROW-"
"""The UDF takes no policy number; rows are named by their batch position, never echoed back."""


class UdfSetupError(RuntimeError):
    """The import directory lacks the model, or the runtime lacks what the model needs."""


class _Metadata(msgspec.Struct, frozen=True):
    name: str
    version: str


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    thresholds: RiskClassThresholds = RiskClassThresholds()
    explain: int = DEFAULT_EXPLAIN


def import_directory() -> Path:
    found = getattr(sys, "_xoptions", {}).get(IMPORT_DIRECTORY_OPTION) or os.environ.get(
        IMPORT_DIRECTORY_ENV
    )
    if not found:
        raise UdfSetupError(
            f"no import directory: not inside Snowflake and {IMPORT_DIRECTORY_ENV} is not set"
        )
    return Path(found)


def load_scorer(directory: Path) -> RescorePolicies:
    """Build the use case from the model and metadata in ``directory`` (the UDF's imports)."""
    from riskscore.adapters.lxml import LxmlEvidenceParser
    from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
    from riskscore.domain.features.extract import extract_features

    if not hasattr(np, "bitwise_count"):
        raise UdfSetupError(f"the model needs numpy 2.x; this runtime has {np.__version__}")
    try:
        metadata = msgspec.json.decode((directory / METADATA_FILE).read_bytes(), type=_Metadata)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UdfSetupError(f"{METADATA_FILE} missing or unreadable in the imports: {exc}") from exc
    config = _Config()
    if (directory / CONFIG_FILE).is_file():
        try:
            config = msgspec.json.decode((directory / CONFIG_FILE).read_bytes(), type=_Config)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UdfSetupError(f"{CONFIG_FILE}: {exc}") from exc
    model = TreeEnsembleModel.load(
        directory / MODEL_FILE, ref=ModelRef(name=metadata.name, version=metadata.version)
    )
    clock = SystemClock()
    return RescorePolicies(
        parser=LxmlEvidenceParser(),
        extract=extract_features,
        model=model,
        clock=clock,
        thresholds=config.thresholds,
        explain=config.explain,
        batch_run_id=f"udf-{metadata.version}",
        run_started_at=clock.now(),
    )


_scorer: RescorePolicies | None = None
_scorer_lock = threading.Lock()


def scorer() -> RescorePolicies:
    """The process's scorer, loaded on first use (one model load per process)."""
    global _scorer
    if _scorer is None:
        with _scorer_lock:
            if _scorer is None:
                _scorer = load_scorer(import_directory())
    return _scorer


def rescore_frame(frame: Any, policies: RescorePolicies | None = None) -> Any:
    """Score one batch: a DataFrame of (MIB_XML, RX_XML[, AS_OF]) -> a Series of VARIANT dicts."""
    import pandas as pd  # type: ignore[import-untyped]

    policies = policies if policies is not None else scorer()
    columns = [frame.iloc[:, i].tolist() for i in range(min(frame.shape[1], 3))]
    if len(columns) < 2:
        raise ValueError("RESCORE takes MIB_XML and RX_XML (and optionally AS_OF)")
    as_ofs = columns[2] if len(columns) == 3 else [None] * len(columns[0])
    rows = [
        _row(f"{ROW_PREFIX}{i}", mib, rx, as_of)
        for i, (mib, rx, as_of) in enumerate(zip(columns[0], columns[1], as_ofs, strict=True))
    ]
    outcomes = policies.rescore(0, rows)
    version = policies.model.ref
    values = [_variant(outcome, version) for outcome in outcomes]
    return pd.Series(values, index=frame.index, dtype=object)


def _row(policy: str, mib: object, rx: object, as_of: object) -> RescoreInput:
    for name, value in (("MIB_XML", mib), ("RX_XML", rx)):
        if not isinstance(value, str | bytes):
            return UnreadableRow(
                policy_number=policy,
                type="missing-evidence",
                title="Evidence document missing",
                detail=f"{name} is NULL or not text",
            )
    try:
        day = _date(as_of)
    except ValueError:
        return UnreadableRow(
            policy_number=policy,
            type="invalid-input-row",
            title="Input row could not be read",
            detail="AS_OF is not a date",
        )
    assert isinstance(mib, str | bytes)
    assert isinstance(rx, str | bytes)
    return ScoreRequest(policy_number=policy, mib_xml=mib, rx_xml=rx, as_of=day, source="udf")


def _date(value: object) -> dt.date | None:
    """A DATE argument as pandas hands it over (Timestamp, datetime, date, ISO text) or NULL."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, dt.datetime):  # pandas.Timestamp too
        if value != value:  # NaT
            return None
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        return dt.date.fromisoformat(str(value)[:10])
    return dt.date.fromisoformat(str(value))


def _variant(outcome: Any, model: ModelRef) -> dict[str, Any]:
    if isinstance(outcome, RescoreFailure):
        return {
            "risk_score": None,
            "risk_class": None,
            "model_name": model.name,
            "model_version": model.version,
            "feature_schema_version": None,
            "reason_codes": None,
            "error": {"type": outcome.type, "title": outcome.title, "detail": outcome.detail},
        }
    p = outcome.prediction
    return {
        "risk_score": p.risk_score,
        "risk_class": p.risk_class,
        "model_name": p.model_name,
        "model_version": p.model_version,
        "feature_schema_version": p.feature_schema_version,
        "reason_codes": [
            {"feature": r.feature, "contribution": r.contribution} for r in p.reason_codes
        ],
        "error": None,
    }
