"""The model being served, swapped atomically when the registry's default version changes.

``ServingModel`` holds one reference to the current ``ScoringModel``. Readers call ``current()``: a
plain attribute read, no lock, so the hot path pays nothing for hot swap. ``refresh()`` asks the
registry for the default version and, when it differs from the loaded one, loads the new version
*before* replacing the reference. A request that already holds the old model finishes on it; the next
request sees the new one. No request ever sees a half-loaded model or no model during a promote or a
rollback.

Refreshes run on a daemon thread (``start()``/``stop()``) every ``poll_interval_s`` seconds, and on
demand (``refresh()``). Loading happens on that thread, never on an event loop. A failed load (a
corrupt artifact, a model trained on another feature schema, the registry being unreachable) keeps
the old model and logs the error type and the version: never any evidence content.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import structlog

from riskscore.domain.features.schema import FeatureSchema
from riskscore.ports.model_registry import DEFAULT_MODEL_NAME, ModelRegistry, ScoringModel


class ServingModel:
    """The current model of one registry entry, refreshed by polling the default version."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        schema: FeatureSchema,
        model_name: str = DEFAULT_MODEL_NAME,
        poll_interval_s: float = 0.5,
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be positive")
        self._registry = registry
        self.schema = schema
        """The feature schema the running code computes; only models trained on it are served."""
        self.model_name = model_name
        self.poll_interval_s = poll_interval_s
        self._model: ScoringModel | None = None
        self._failed_version: str | None = None
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = structlog.get_logger("riskscore.serving")

    def current(self) -> ScoringModel | None:
        """The model to score with now (None until one loads). Lock-free: one attribute read."""
        return self._model

    @property
    def version(self) -> str | None:
        model = self._model
        return None if model is None else model.ref.version

    def refresh(self) -> bool:
        """Load the registry's default version if it is not the one served; True when swapped.

        Never raises: a failure keeps the current model and is logged. A version that failed to load
        is not retried until the default version changes again (no log flood every poll).
        """
        with self._refresh_lock:
            try:
                wanted = self._registry.default_version(self.model_name)
            except Exception as exc:
                self._log.warning(
                    "serving.registry_unreachable",
                    model_name=self.model_name,
                    error_type=type(exc).__name__,
                )
                return False
            if wanted is None or wanted == self.version:
                self._failed_version = None
                return False
            if wanted == self._failed_version:
                return False
            started = time.perf_counter()
            try:
                model = self._registry.load(self.model_name, wanted)
                if model.feature_schema_version != self.schema.version:
                    raise ValueError("model feature schema differs from the running code's")
            except Exception as exc:
                self._failed_version = wanted
                self._log.error(
                    "serving.load_failed",
                    model_name=self.model_name,
                    model_version=wanted,
                    kept_version=self.version,
                    error_type=type(exc).__name__,
                )
                return False
            previous = self.version
            self._model = model  # the atomic swap: one reference assignment
            self._failed_version = None
            self._log.info(
                "serving.model_swapped",
                model_name=self.model_name,
                model_version=model.ref.version,
                previous_version=previous,
                load_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            return True

    def start(self) -> None:
        """Load the default version now, then keep polling on a daemon thread. Idempotent."""
        if self._thread is not None:
            return
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll, name=f"serving-{self.model_name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (the current model stays available). Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=max(5.0, self.poll_interval_s * 2))

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            self.refresh()

    def __enter__(self) -> ServingModel:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
