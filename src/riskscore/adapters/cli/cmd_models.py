"""``riskscore models list|promote VERSION|rollback``: inspect and switch registered model versions.

A running model service polls the registry's default version, so ``promote`` and ``rollback`` take
effect there within its poll interval, without a restart.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskscore.ports.model_registry import ModelVersionInfo

HELP = "List registered model versions, promote one to default, or roll back."

_METRICS = (("roc_auc", "AUC"), ("log_loss", "LOGLOSS"), ("brier", "BRIER"), ("ece_10", "ECE"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default=None, help="riskscore data directory (default RISKSCORE_DATA_DIR)"
    )
    parser.add_argument("--name", default=None, help="model name (default EVIDENCE_RISK_MODEL)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="list versions, newest last; * marks the default")
    promote = actions.add_parser("promote", help="make VERSION the default")
    promote.add_argument("version", metavar="VERSION", help="e.g. V2")
    actions.add_parser("rollback", help="return to the previous default")


def format_table(versions: list[ModelVersionInfo]) -> str:
    """A plain-text table of versions: one line each, the default marked with ``*``."""
    header = ["", "VERSION", "CREATED (UTC)", *(label for _, label in _METRICS), "ALGORITHM"]
    header.append("SCHEMA")
    rows = [header] + [
        [
            "*" if info.is_default else "",
            info.version,
            info.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            *(f"{info.metrics[key]:.4f}" if key in info.metrics else "-" for key, _ in _METRICS),
            info.params.get("algorithm", "-"),
            info.feature_schema_version,
        ]
        for info in versions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def run(args: argparse.Namespace) -> int:
    import msgspec

    from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
    from riskscore.ports.model_registry import ModelRegistryError
    from riskscore.settings import load_settings

    try:
        settings = load_settings(data_dir=args.data_dir)
    except ValueError as exc:
        print(f"riskscore models: {exc}", file=sys.stderr)
        return 2
    name = args.name or settings.model_name
    # Listing and switching versions never loads a model, so no schema check here.
    registry = LocalFsModelRegistry(settings.registry_dir, expected_schema_version=None)
    try:
        if args.action == "list":
            versions = registry.list_versions(name)
            if args.json:
                sys.stdout.write(msgspec.json.encode(versions).decode() + "\n")
            elif not versions:
                print(f"no versions of {name} in {settings.registry_dir}; run `riskscore train`")
            else:
                print(format_table(versions))
            return 0
        if args.action == "promote":
            registry.promote(args.version, name)
            default = args.version
        else:
            default = registry.rollback(name)
    except ModelRegistryError as exc:
        print(f"riskscore models {args.action}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(msgspec.json.encode({"name": name, "default": default}).decode() + "\n")
    else:
        print(f"{name} default version is now {default}")
    return 0
