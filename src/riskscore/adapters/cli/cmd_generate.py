"""``riskscore generate``: write a synthetic dataset (MIB and Rx XML pairs plus labels).

The same ``--n``, ``--seed`` and ``--as-of`` always give byte-identical files (docs/synthetic-data.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

HELP = "Write synthetic MIB and Rx evidence with outcome labels (docs/synthetic-data.md)."


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=_at_least(1), required=True, help="number of applications")
    parser.add_argument("--seed", type=_at_least(0), default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="as-of date of the evidence, YYYY-MM-DD (default 2026-01-01, never today)",
    )


def run(args: argparse.Namespace) -> int:
    import msgspec

    from riskscore.adapters.synthetic import DatasetError, Manifest, write_dataset

    started = time.perf_counter()
    try:
        out = write_dataset(args.out, args.n, args.seed, as_of=args.as_of)
    except (DatasetError, OSError) as exc:
        print(f"riskscore generate: {exc}", file=sys.stderr)
        return 1
    manifest = msgspec.json.decode((out / "manifest.json").read_bytes(), type=Manifest)
    elapsed = time.perf_counter() - started
    share = manifest.positives / manifest.n
    print(
        f"wrote {manifest.n} applications to {out} "
        f"(seed {manifest.seed}, as of {manifest.as_of}, {manifest.positives} positive = "
        f"{share:.1%}) in {elapsed:.1f} s"
    )
    return 0
