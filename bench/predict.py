"""Benchmark: the compiled tree predictor against scikit-learn, one row and 1,000-row batches.

Run: ``.venv/bin/python -m bench.predict [--n 20000] [--algorithm hgb|gbm] [--repeats 7]``.

Trains the default model the way ``riskscore train`` does (generated evidence, seed 7), then scores
real feature rows of another generated dataset (seed 8) with

- ``TreeEnsembleModel.predict(row, explain=3)``: probability plus three reason codes (the API path),
- ``TreeEnsembleModel.predict_proba``: probabilities only,
- scikit-learn's ``predict_proba`` on one OpenMP thread (same core budget) and with its default threads.

Each figure is per call, from batches of calls timed with ``perf_counter`` (wall) and
``process_time`` (CPU of this process: other processes on a shared machine do not inflate it, but
scikit-learn's extra threads do add to it). The first line times a fixed reference loop, to show how
contended the machine was. Writes ``bench/results/predict.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from riskscore.adapters.treemodel.training import generated_training_data, train

RESULTS = Path(__file__).parent / "results" / "predict.json"


def measure(fn: Callable[[], object], *, number: int, repeats: int) -> dict[str, float]:
    """Per-call seconds: median wall, best wall, best CPU over ``repeats`` batches of ``number``."""
    fn()  # warm up
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        cpus.append((time.process_time() - cpu) / number)
        walls.append((time.perf_counter() - wall) / number)
    return {"wall_median": statistics.median(walls), "wall_min": min(walls), "cpu_min": min(cpus)}


def reference_loop_us() -> float:
    def loop() -> int:
        total = 0
        for i in range(1000):
            total += i
        return total

    return measure(loop, number=2000, repeats=5)["cpu_min"] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="training applications")
    parser.add_argument("--algorithm", choices=("hgb", "gbm"), default="hgb")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    print(f"reference loop: {reference_loop_us():.1f} us CPU (higher means a more contended core)")
    started = time.perf_counter()
    result = train(generated_training_data(args.n, 7), algorithm=args.algorithm, seed=7)
    rows = generated_training_data(1000, 8).x
    model, estimator = result.model, result.estimator
    print(
        f"trained {args.algorithm} on {args.n} applications in {time.perf_counter() - started:.1f} s:"
        f" {model.ensemble.n_trees} trees, {model.ensemble.n_nodes} internal nodes, "
        f"{len(model.feature_names)} features\n"
    )
    one = rows[:1]
    r = args.repeats
    cases: dict[str, dict[str, float]] = {}
    cases["fast 1 row predict(explain=3)"] = measure(
        lambda: model.predict(one, explain=3), number=5000, repeats=r
    )
    cases["fast 1 row predict_proba"] = measure(
        lambda: model.predict_proba(one), number=5000, repeats=r
    )
    cases["fast 1000 rows predict_proba"] = measure(
        lambda: model.predict_proba(rows), number=20, repeats=r
    )
    cases["fast 1000 rows predict(explain=3)"] = measure(
        lambda: model.predict(rows, explain=3), number=5, repeats=r
    )
    with threadpool_limits(limits=1):
        cases["sklearn 1 row, 1 thread"] = measure(
            lambda: estimator.predict_proba(one), number=200, repeats=r
        )
        cases["sklearn 1000 rows, 1 thread"] = measure(
            lambda: estimator.predict_proba(rows), number=20, repeats=r
        )
    cases["sklearn 1 row, default threads"] = measure(
        lambda: estimator.predict_proba(one), number=200, repeats=r
    )
    cases["sklearn 1000 rows, default threads"] = measure(
        lambda: estimator.predict_proba(rows), number=20, repeats=r
    )

    print(f"{'case':38s} {'wall median':>12s} {'wall min':>10s} {'cpu min':>10s} {'per row':>9s}")
    for name, figures in cases.items():
        per_row = figures["wall_min"] / (1000 if "1000" in name else 1)
        print(
            f"{name:38s} {figures['wall_median'] * 1e6:10.1f}us {figures['wall_min'] * 1e6:8.1f}us "
            f"{figures['cpu_min'] * 1e6:8.1f}us {per_row * 1e6:7.2f}us"
        )

    pairs = {
        "1 row: sklearn (1 thread) / fast predict_proba": (
            "sklearn 1 row, 1 thread",
            "fast 1 row predict_proba",
        ),
        "1 row: sklearn (1 thread) / fast predict(explain=3)": (
            "sklearn 1 row, 1 thread",
            "fast 1 row predict(explain=3)",
        ),
        "1000 rows: sklearn (1 thread) / fast predict_proba": (
            "sklearn 1000 rows, 1 thread",
            "fast 1000 rows predict_proba",
        ),
        "1000 rows: sklearn (default threads) / fast predict_proba": (
            "sklearn 1000 rows, default threads",
            "fast 1000 rows predict_proba",
        ),
    }
    ratios = {
        name: {
            "wall": cases[slow]["wall_min"] / cases[fast]["wall_min"],
            "cpu": cases[slow]["cpu_min"] / cases[fast]["cpu_min"],
        }
        for name, (slow, fast) in pairs.items()
    }
    print(f"\n{'ratio':60s} {'wall':>7s} {'cpu':>7s}")
    for name, value in ratios.items():
        print(f"{name:60s} {value['wall']:6.1f}x {value['cpu']:6.1f}x")
    print("(cpu ratios against default threads count every scikit-learn thread's CPU)")
    parity = float(np.max(np.abs(model.predict_proba(rows) - estimator.predict_proba(rows)[:, 1])))
    print(f"\nmax |fast - sklearn| probability over the 1000 rows: {parity:.2e}")

    report: dict[str, Any] = {
        "algorithm": args.algorithm,
        "n_train": args.n,
        "trees": model.ensemble.n_trees,
        "internal_nodes": model.ensemble.n_nodes,
        "python": platform.python_version(),
        "seconds_per_call": cases,
        "ratios": ratios,
        "parity_max_abs_diff": parity,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
    )


if __name__ == "__main__":
    main()
