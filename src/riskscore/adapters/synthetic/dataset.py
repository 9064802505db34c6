"""Streaming generation and the on-disk dataset layout.

Layout (other code relies on it)::

    DIR/manifest.json           generator, generator_version, n, seed, as_of, positives
    DIR/labels.csv              policy_number,as_of,label   (one row per application, in order)
    DIR/mib/<policy_number>.xml
    DIR/rx/<policy_number>.xml

Files are written as UTF-8 bytes with ``\\n`` line ends, and the manifest has no timestamp, so the same
``(n, seed, as_of)`` gives byte-identical directories. The manifest is written last: a directory
without one is an interrupted run. ``write_dataset`` refuses a non-empty directory unless it already
holds a synthetic dataset, which it then replaces.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import msgspec

from riskscore.adapters.synthetic.simulate import (
    DEFAULT_AS_OF,
    GENERATOR_VERSION,
    SyntheticApplication,
    simulate,
)

GENERATOR_NAME = "riskscore.adapters.synthetic"
LABELS_HEADER = "policy_number,as_of,label"
_SAFE_POLICY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class DatasetError(Exception):
    """A dataset directory that cannot be written or read back (the message names the problem)."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    generator: str
    generator_version: str
    n: int
    seed: int
    as_of: dt.date
    positives: int


def generate(
    n: int, seed: int, *, as_of: dt.date | None = None, start: int = 0
) -> Iterator[SyntheticApplication]:
    """Applications ``start .. start + n - 1`` of the dataset ``seed``, one at a time.

    Item ``i`` depends only on ``(seed, start + i, as_of)``, so ``generate(10, s, start=5)`` equals
    items 5..14 of ``generate(15, s)``.
    """
    if n < 0 or start < 0:
        raise ValueError(f"n and start must be >= 0, got n={n}, start={start}")
    day = DEFAULT_AS_OF if as_of is None else as_of
    for index in range(start, start + n):
        yield simulate(seed, index, day).application


def _clear_previous(out_dir: Path) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise DatasetError(f"{out_dir} exists and is not a directory")
    if not any(out_dir.iterdir()):
        return
    manifest = out_dir / "manifest.json"
    try:
        previous = msgspec.json.decode(manifest.read_bytes(), type=Manifest)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DatasetError(
            f"{out_dir} is not empty and holds no synthetic dataset; choose an empty directory"
        ) from exc
    if previous.generator != GENERATOR_NAME:
        raise DatasetError(f"{out_dir} holds a dataset of another generator")
    for sub in ("mib", "rx"):
        for path in (out_dir / sub).glob("*.xml"):
            path.unlink()
    manifest.unlink()
    (out_dir / "labels.csv").unlink(missing_ok=True)


def write_dataset(out_dir: Path, n: int, seed: int, *, as_of: dt.date | None = None) -> Path:
    """Write ``n`` applications in the layout above; returns ``out_dir``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = DEFAULT_AS_OF if as_of is None else as_of
    _clear_previous(out_dir)
    mib_dir, rx_dir = out_dir / "mib", out_dir / "rx"
    mib_dir.mkdir(parents=True, exist_ok=True)
    rx_dir.mkdir(exist_ok=True)
    positives = 0
    iso = day.isoformat()
    with (out_dir / "labels.csv").open("w", encoding="utf-8", newline="\n") as labels:
        labels.write(LABELS_HEADER + "\n")
        for app in generate(n, seed, as_of=day):
            (mib_dir / f"{app.policy_number}.xml").write_bytes(app.mib_xml.encode())
            (rx_dir / f"{app.policy_number}.xml").write_bytes(app.rx_xml.encode())
            labels.write(f"{app.policy_number},{iso},{app.label}\n")
            positives += app.label
    manifest = Manifest(
        generator=GENERATOR_NAME,
        generator_version=GENERATOR_VERSION,
        n=n,
        seed=seed,
        as_of=day,
        positives=positives,
    )
    (out_dir / "manifest.json").write_bytes(
        msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"
    )
    return out_dir


def _label_rows(path: Path) -> list[tuple[str, dt.date, int]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror}") from exc
    if not lines or lines[0].strip() != LABELS_HEADER:
        raise DatasetError(f"{path}: the first line must be {LABELS_HEADER!r}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.strip().split(",")
        if len(parts) != 3:
            raise DatasetError(f"{path}:{number}: expected 3 fields, got {len(parts)}")
        policy, as_of, label = parts
        if not _SAFE_POLICY.match(policy):
            raise DatasetError(f"{path}:{number}: unusable policy number")
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError as exc:
            raise DatasetError(f"{path}:{number}: as_of is not an ISO date") from exc
        if label not in ("0", "1"):
            raise DatasetError(f"{path}:{number}: label must be 0 or 1")
        rows.append((policy, day, int(label)))
    return rows


def read_dataset(dir: Path) -> Iterator[SyntheticApplication]:
    """The applications of a dataset directory, in policy-number order."""
    rows = _label_rows(dir / "labels.csv")
    rows.sort(key=lambda row: (len(row[0]), row[0]))
    for policy, day, label in rows:
        try:
            mib_xml = (dir / "mib" / f"{policy}.xml").read_text(encoding="utf-8")
            rx_xml = (dir / "rx" / f"{policy}.xml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"cannot read the documents of {policy}: {exc}") from exc
        yield SyntheticApplication(
            policy_number=policy, mib_xml=mib_xml, rx_xml=rx_xml, as_of=day, label=label
        )
