"""``riskscore rescore``: re-score a batch of applications (or stored feature vectors) into a file.

Output is one row per input row, in input order (docs/rescoring.md lists the fields); a row that
cannot be scored gets ``error {type, title, detail}`` and the run goes on. ``--resume`` carries on an
interrupted run (``adapters/batch/state.py``). ``--compare V1 V2`` scores every row with both
versions and reports the score shifts and the risk-class migration matrix.

Exit codes: 0 done (bad rows included), 1 the run failed (input, registry, log), 2 bad arguments,
130 interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riskscore.adapters.batch.files import FileRun, Progress
    from riskscore.adapters.batch.sources import RescoreSource

HELP = "Re-score a batch of applications or stored feature vectors with a model version."

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        type=Path,
        help="a `riskscore generate` directory, or JSON Lines of {policy_number, mib_xml, rx_xml, as_of?}",
    )
    source.add_argument(
        "--from-feature-store",
        action="store_true",
        help="re-score the stored feature vectors (no re-parsing)",
    )
    source.add_argument(
        "--query",
        metavar="SQL",
        help="Snowflake query returning POLICY_NUMBER, MIB_XML, RX_XML[, AS_OF] (SNOWFLAKE_* vars)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="VALUE",
        help="a value bound to the next %%s of --query (repeatable)",
    )
    models = parser.add_mutually_exclusive_group()
    models.add_argument(
        "--model-version", metavar="V", help="model version, e.g. V2 (default: the default version)"
    )
    models.add_argument(
        "--compare",
        nargs=2,
        metavar=("V1", "V2"),
        help="score with both versions; report score shifts and risk-class migration",
    )
    parser.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="re-score every application as of this date (default: each one's own)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output file")
    parser.add_argument(
        "--format",
        choices=("jsonl", "parquet"),
        default=None,
        help="output format (default: parquet for a .parquet --out, else jsonl)",
    )
    parser.add_argument(
        "--workers", type=_positive, default=None, help="processes (default: one per core)"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=1000,
        help="rows per model call (default 1000; stored vectors: 10,000 at least)",
    )
    parser.add_argument(
        "--log-predictions",
        action="store_true",
        help="also write the predictions to the prediction log (source=rescore)",
    )
    parser.add_argument("--batch-run-id", default=None, help="lineage id of this run")
    parser.add_argument(
        "--resume", action="store_true", help="carry on an interrupted run with the same arguments"
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="compare report JSON (default: OUT.compare.json)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="flush each chunk without fsync (survives a killed process, not a power cut)",
    )
    parser.add_argument("--data-dir", default=None, help="data directory (RISKSCORE_DATA_DIR)")


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"riskscore rescore: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from riskscore.settings import load_settings

    if args.as_of is not None and args.from_feature_store:
        return _fail(
            "--as-of cannot move stored feature vectors in time; re-score their evidence instead",
            EXIT_USAGE,
        )
    if args.param and not args.query:
        return _fail("--param binds values of --query", EXIT_USAGE)
    output_format = args.format or ("parquet" if args.out.suffix == ".parquet" else "jsonl")
    try:
        settings = load_settings(data_dir=args.data_dir)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        return _run(args, settings, output_format)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return _fail(
            f"interrupted; the finished rows are in {args.out}: run again with --resume",
            EXIT_INTERRUPTED,
        )


def _run(args: argparse.Namespace, settings: Any, output_format: Any) -> int:
    from concurrent.futures.process import BrokenProcessPool

    from riskscore.adapters.batch.api import Resources, load_models, new_batch_run_id
    from riskscore.adapters.batch.files import FileRunRequest, run_to_file
    from riskscore.adapters.batch.parquet import ParquetUnavailable, require_pyarrow
    from riskscore.adapters.batch.runner import default_workers
    from riskscore.adapters.batch.sources import SourceError
    from riskscore.adapters.batch.state import ResumeError
    from riskscore.ports.model_registry import ModelRegistryError
    from riskscore.ports.prediction_log import PredictionLogError

    if output_format == "parquet":
        try:
            require_pyarrow()
        except ParquetUnavailable as exc:
            return _fail(str(exc), EXIT_USAGE)
    resources = Resources(settings)
    log = None
    try:
        versions = list(args.compare) if args.compare else [args.model_version]
        try:
            models = load_models(resources.registry(None), settings.model_name, versions)
        except ModelRegistryError as exc:
            return _fail(f"cannot load the model: {type(exc).__name__}: {exc}")
        source: RescoreSource
        try:
            if args.query:
                from riskscore.adapters.batch.sources import SnowflakeQuerySource
                from riskscore.adapters.snowflake import snowflake_connection_factory

                source = SnowflakeQuerySource(
                    snowflake_connection_factory(settings), args.query, tuple(args.param)
                )
            else:
                given = "feature-store" if args.from_feature_store else args.input
                source = resources.source(given, feature_store=None, connections=None)
        except (SourceError, ValueError) as exc:
            return _fail(str(exc))
        if args.log_predictions:
            log = resources.container.prediction_log()
        request = FileRunRequest(
            source=source,
            out=args.out,
            settings=settings,
            models=models,
            thresholds=resources.container.thresholds(),
            output_format=output_format,
            as_of=args.as_of,
            explain=settings.reason_codes,
            batch_run_id=args.batch_run_id,
            workers=args.workers or default_workers(),
            batch_size=args.batch_size,
            resume=args.resume,
            prediction_log=log,
            durable=not args.no_fsync,
            report_path=args.report,
        )
        display = None if args.no_progress else _ProgressLine()
        try:
            result = run_to_file(request, new_run_id=new_batch_run_id, progress=display)
        except BrokenProcessPool:
            if display is not None:
                display.end()
            return _fail(
                "a worker process died; the finished rows are kept: run again with --resume"
            )
        except (SourceError, ResumeError, PredictionLogError, OSError) as exc:
            if display is not None:
                display.end()
            return _fail(f"{exc}")
        if display is not None:
            display.end()
        _summary(result, models)
        return 0
    finally:
        if log is not None:
            log.close()
        resources.close()


def _summary(result: FileRun, models: tuple[Any, ...]) -> None:
    from riskscore.adapters.batch.compare import render

    done = result.rows - result.resumed_from
    rate = done / result.elapsed_s if result.elapsed_s > 0 else 0.0
    versions = " vs ".join(model.ref.version for model in models)
    resumed = f" (resumed after row {result.resumed_from})" if result.resumed_from else ""
    print(
        f"rescored {result.rows} rows{resumed}, {result.failures} refused, with "
        f"{models[0].ref.name} {versions} into {result.out} in {result.elapsed_s:.1f} s "
        f"({rate:,.0f} rows/s); batch run {result.batch_run_id}"
    )
    if result.report is not None:
        print(render(result.report))


class _ProgressLine:
    """A carriage-return counter on stderr, redrawn at most every ``interval_s``."""

    interval_s = 0.2

    def __init__(self) -> None:
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s and progress.rows != progress.total:
            return
        self._last = now
        done = progress.rows - progress.resumed_from
        rate = done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        if progress.total:
            share = f" / {progress.total:,} ({progress.rows / progress.total:.0%})"
        else:
            share = ""
        line = (
            f"\rrescore: {progress.rows:,}{share} rows, {progress.failures:,} refused, "
            f"{rate:,.0f} rows/s"
        )
        sys.stderr.write(line)
        sys.stderr.flush()
        self._drawn = True

    def end(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False
