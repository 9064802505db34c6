"""``riskscore train``: fit the evidence risk model, evaluate it on held-out rows, register it.

Without ``--data`` it generates ``--n`` synthetic applications of dataset ``--seed`` on the fly; with
``--data DIR`` it reads a ``riskscore generate`` directory. The new version is the default only when
it is the first one or with ``--promote`` (docs/model.md). The registry lives under the data
directory (``RISKSCORE_DATA_DIR``, or ``--data-dir``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "Train the evidence risk model on synthetic evidence and register the next version."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--n",
        type=int,
        default=20_000,
        help="applications to generate (default 20000; ignored with --data)",
    )
    parser.add_argument("--seed", type=int, default=7, help="dataset and training seed (default 7)")
    parser.add_argument(
        "--data", type=Path, default=None, help="train on this `riskscore generate` directory"
    )
    parser.add_argument(
        "--algorithm",
        choices=("hgb", "gbm"),
        default="hgb",
        help="hgb = HistGradientBoostingClassifier (default), gbm = GradientBoostingClassifier",
    )
    parser.add_argument(
        "--promote", action="store_true", help="make the new version the default at once"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes building features (default: one per CPU)",
    )
    parser.add_argument(
        "--data-dir", default=None, help="riskscore data directory (default RISKSCORE_DATA_DIR)"
    )
    parser.add_argument("--name", default=None, help="model name (default EVIDENCE_RISK_MODEL)")
    parser.add_argument("--json", action="store_true", help="print the version info as JSON")


def run(args: argparse.Namespace) -> int:
    import msgspec

    from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
    from riskscore.adapters.treemodel.training import (
        TrainingError,
        dataset_training_data,
        generated_training_data,
        train_and_register,
    )
    from riskscore.domain.features.catalogue import SCHEMA
    from riskscore.ports.model_registry import ModelRegistryError
    from riskscore.settings import load_settings

    problems = [
        message
        for bad, message in (
            (args.n < 100, f"--n must be at least 100, got {args.n}"),
            (args.seed < 0, f"--seed must be >= 0, got {args.seed}"),
            (args.workers is not None and args.workers < 1, "--workers must be at least 1"),
        )
        if bad
    ]
    if problems:
        print(f"riskscore train: {'; '.join(problems)}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(data_dir=args.data_dir)
    except ValueError as exc:
        print(f"riskscore train: {exc}", file=sys.stderr)
        return 2
    name = args.name or settings.model_name
    registry = LocalFsModelRegistry(settings.registry_dir, expected_schema_version=SCHEMA.version)
    started = time.perf_counter()
    try:
        if args.data is not None:
            data = dataset_training_data(args.data, workers=args.workers)
        else:
            data = generated_training_data(args.n, args.seed, workers=args.workers)
        info, _ = train_and_register(
            registry,
            data,
            algorithm=args.algorithm,
            seed=args.seed,
            promote=args.promote,
            name=name,
        )
    except (TrainingError, ModelRegistryError) as exc:
        print(f"riskscore train: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    if args.json:
        sys.stdout.write(msgspec.json.encode(info).decode() + "\n")
        return 0
    m = info.metrics
    print(
        f"registered {info.name} {info.version}"
        f"{' (default)' if info.is_default else ' (not default: riskscore models promote ' + info.version + ')'}"
        f" in {settings.registry_dir}\n"
        f"  held-out ROC AUC {m['roc_auc']:.4f}  log loss {m['log_loss']:.4f}  "
        f"Brier {m['brier']:.4f}  ECE(10) {m['ece_10']:.4f}  "
        f"({int(m['n_train'])} train / {int(m['n_test'])} test rows)\n"
        f"  features {m['feature_seconds']:.1f} s, fit {m['fit_seconds']:.1f} s, "
        f"total {elapsed:.1f} s; feature schema {info.feature_schema_version}"
    )
    return 0
