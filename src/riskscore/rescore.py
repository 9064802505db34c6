"""``riskscore.rescore``: batch rescoring as a library (docs/rescoring.md).

Call it, ``riskscore.rescore("applications.jsonl", model_version="V2")``: this module is callable and
forwards to ``riskscore.adapters.batch.api.rescore``. Or import what you need from it::

    from riskscore.rescore import JsonlSource, RescoreFailure, RescoreResult, rescore

``import riskscore`` does not import this module (nor numpy, lxml or the registry) until
``riskscore.rescore`` is first used.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from riskscore.adapters.batch.api import rescore
from riskscore.adapters.batch.compare import CompareReport, compare_report
from riskscore.adapters.batch.sources import (
    ApplicationsSource,
    DatasetSource,
    FeatureStoreSource,
    JsonlSource,
    RescoreSource,
    SnowflakeQuerySource,
    SourceError,
    open_source,
)
from riskscore.domain.usecases.rescore import (
    RescoreFailure,
    RescoreOutcome,
    RescoreResult,
    StoredVector,
    UnreadableRow,
)
from riskscore.domain.usecases.score_policy import ScoreRequest

__all__ = [
    "ApplicationsSource",
    "CompareReport",
    "DatasetSource",
    "FeatureStoreSource",
    "JsonlSource",
    "RescoreFailure",
    "RescoreOutcome",
    "RescoreResult",
    "RescoreSource",
    "ScoreRequest",
    "SnowflakeQuerySource",
    "SourceError",
    "StoredVector",
    "UnreadableRow",
    "compare_report",
    "open_source",
    "rescore",
]


class _CallableModule(types.ModuleType):
    """The module doubles as the function, so ``riskscore.rescore(...)`` works after
    ``import riskscore`` even though ``riskscore.rescore`` is this module."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return rescore(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
