"""``python -m bench [e2e|serving|inference|features|audit|all ...] [--quick]``: see bench/harness.py
and docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys

from bench import harness, report
from bench.config import P99_CEILING_MS, RunConfig, placement
from bench.equality import DEFAULT_TOLERANCE
from bench.loadgen import load_generator


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    names = [*harness.PARTS, "all"]
    # No ``choices=``: argparse checks an empty "*" positional against them and refuses it.
    cli.add_argument("parts", nargs="*", metavar="PART", help=f"{', '.join(names)} (default: all)")
    cli.add_argument("--quick", action="store_true", help="short runs to check the harness")
    cli.add_argument("--p99-ceiling-ms", type=float, default=P99_CEILING_MS)
    cli.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    cli.add_argument(
        "--loadgen", choices=("wrk", "asyncio"), default=None, help="default: wrk when installed"
    )
    cli.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    args = cli.parse_args(argv)
    unknown = [p for p in args.parts if p not in names]
    if unknown:
        cli.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    chosen = args.parts or ["all"]
    parts = list(harness.PARTS) if "all" in chosen else [p for p in harness.PARTS if p in chosen]
    load_cpus, server_cpus = (None, None) if args.no_pin else placement()
    cfg = RunConfig(
        quick=args.quick,
        p99_ceiling_ms=args.p99_ceiling_ms,
        tolerance=args.tolerance,
        tool=args.loadgen or load_generator(),
        load_cpus=load_cpus,
        server_cpus=server_cpus,
    )
    doc, status = harness.run(parts, cfg)
    print(report.render(doc))
    return status


if __name__ == "__main__":
    sys.exit(main())
