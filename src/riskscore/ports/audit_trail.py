"""The audit trail: what makes an answered prediction durable before the answer goes out.

``record`` is on the request path: when it returns, the entry survives a crash of the process and
will reach the feature store and the prediction log (idempotently, in batches, retried while a store
is down). Only after ``record`` returns may the caller acknowledge the prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from riskscore.domain.scoring import AuditEntry


class AuditTrailError(Exception):
    """The entry could not be made durable (disk full, journal closed): do not acknowledge it."""


class AuditTrailInUse(AuditTrailError):
    """Another process already owns this journal."""


class AuditStats(msgspec.Struct, frozen=True, kw_only=True):
    """Health of the trail, for ``/metrics`` and the dashboard."""

    recorded: int
    """Entries recorded by this process."""
    delivered: int
    """Entries delivered to both stores by this process (replayed ones included)."""
    queue_depth: int
    """Entries recorded (by this or an earlier process) and not yet delivered."""
    lag_s: float
    """Age of the oldest undelivered entry in seconds; 0.0 when nothing is pending."""
    failed_attempts: int
    """Delivery attempts that failed (each retry counts)."""
    last_error_type: str | None
    """Class name of the last delivery error, None when none happened yet."""
    dead_lettered: int = 0
    """Entries a store refused for good (non-retryable error); kept aside, never dropped."""
    running: bool = False
    """Whether the background delivery is running."""


@runtime_checkable
class AuditTrail(Protocol):
    def record(self, entry: AuditEntry) -> None:
        """Make ``entry`` durable (it survives a crash of this process) before returning; fast."""
        ...

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        """``record`` for a batch, in one write: all of them are durable when it returns."""
        ...

    def start(self) -> None:
        """Start background delivery (replaying whatever an earlier process left undelivered)."""
        ...

    def drain(self, timeout_s: float) -> bool:
        """Deliver everything recorded so far; True when done within ``timeout_s``."""
        ...

    def close(self) -> None:
        """Stop delivery and release the journal; undelivered entries stay for the next start."""
        ...

    def stats(self) -> AuditStats: ...
