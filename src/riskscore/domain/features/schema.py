"""The ordered feature schema and the vectors computed against it.

A schema's version is a content hash of its ordered definitions, so a model, a stored vector and the
running code agree on the meaning of every column exactly when their versions are equal.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec


class FeatureDef(msgspec.Struct, frozen=True, kw_only=True):
    """One named feature: what it means and in which unit it is counted."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str
    unit: str


class FeatureSchema(msgspec.Struct, frozen=True, kw_only=True):
    """An ordered list of features. ``revision`` is bumped when a computation changes meaning."""

    features: tuple[FeatureDef, ...]
    revision: int = 1
    data_digest: str = ""
    """Digest of the lookup tables the values are computed with (drug classes, MIB categories).
    Part of the version when set: remapping a drug changes values without changing names."""

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate feature names: {dupes}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def version(self) -> str:
        """Content hash of revision, names, units and data digest: 16 hex characters."""
        text = f"rev={self.revision}\n" + "\n".join(f"{f.name}|{f.unit}" for f in self.features)
        if self.data_digest:
            text += f"\ndata={self.data_digest}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.features)


class FeatureVector(msgspec.Struct, frozen=True, kw_only=True):
    """Feature values in schema order, tagged with the schema version they were computed against."""

    schema_version: str
    values: tuple[float, ...]

    def content_hash(self) -> str:
        """Stable hash of the vector for lineage: schema version plus the exact float values."""
        payload = msgspec.json.encode([self.schema_version, self.values])
        return hashlib.sha256(payload).hexdigest()[:32]
