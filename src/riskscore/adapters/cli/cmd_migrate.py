"""``riskscore migrate``: create or upgrade the database objects of the configured backend.

- ``--backend local`` applies the embedded SQLite migrations to ``RISKSCORE_DATA_DIR``.
- ``--backend snowflake`` applies ``migrations/snowflake`` (shipped in the package) the way schemachange
  would, recording them in schemachange's change-history table, so production can switch to
  ``schemachange deploy -f migrations/snowflake`` at any time (docs/snowflake.md). Connection parameters
  come from ``SNOWFLAKE_*`` variables; template values from ``--var NAME=VALUE`` over defaults taken
  from the settings. ``--fakesnow`` rewrites what fakesnow cannot run (tests and local trials only).

Exit codes: 0 done, 1 failed (connection or script), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskscore.settings import Settings

HELP = (
    "Create or upgrade the database objects (SQLite locally, Snowflake with schemachange naming)."
)

DEFAULT_APP_ROLE = "RISKSCORE_APP"
DEFAULT_READER_ROLE = "RISKSCORE_READER"
DEFAULT_WAREHOUSE = "RISKSCORE_WH"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("local", "snowflake"),
        default=None,
        help="which backend to migrate (default: RISKSCORE_BACKEND)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="local backend: data directory (default: RISKSCORE_DATA_DIR)",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="snowflake: folder of V<version>__<description>.sql scripts (default: the packaged ones)",
    )
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="snowflake: a template variable (database, warehouse, app_role, reader_role)",
    )
    parser.add_argument(
        "--change-history-table",
        default=None,
        help="snowflake: DATABASE.SCHEMA.TABLE (default: METADATA.SCHEMACHANGE.CHANGE_HISTORY)",
    )
    parser.add_argument(
        "--fakesnow",
        action="store_true",
        help="snowflake: the target is fakesnow (drop HYBRID/INDEX, skip GRANTs, create databases)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="snowflake: list what would run, change nothing"
    )


def run(args: argparse.Namespace) -> int:
    from riskscore.settings import load_settings

    try:
        settings = load_settings(data_dir=args.data_dir)
    except ValueError as exc:
        print(f"riskscore migrate: {exc}", file=sys.stderr)
        return 2
    backend = args.backend or settings.backend
    if backend == "local":
        return _migrate_local(settings.sqlite_path)
    return _migrate_snowflake(args, settings)


def _migrate_local(path: Path) -> int:
    from riskscore.adapters.sqlite.migrate import MigrationError, apply_migrations

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        applied = apply_migrations(path)
    except MigrationError as exc:
        print(f"riskscore migrate: {exc}", file=sys.stderr)
        return 1
    print(f"sqlite {path}: applied {len(applied)} migration(s)" + _listing(applied))
    return 0


def _migrate_snowflake(args: argparse.Namespace, settings: Settings) -> int:
    from riskscore.adapters.snowflake import snowflake_connection_factory
    from riskscore.adapters.snowflake.fakesnow_support import packaged_migrations
    from riskscore.adapters.snowflake.migrate import (
        DEFAULT_CHANGE_HISTORY_TABLE,
        MigrationError,
        apply_snowflake_migrations,
        check_identifier,
    )

    variables = {
        "database": settings.snowflake_database,
        "warehouse": settings.snowflake_warehouse
        or os.environ.get("SNOWFLAKE_WAREHOUSE")
        or DEFAULT_WAREHOUSE,
        "app_role": DEFAULT_APP_ROLE,
        "reader_role": DEFAULT_READER_ROLE,
    }
    try:
        for item in args.var:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise MigrationError(f"--var expects NAME=VALUE, got {item!r}")
            variables[name.strip()] = value.strip()
        for name, value in variables.items():
            check_identifier(value, f"template variable {name}")
    except MigrationError as exc:
        print(f"riskscore migrate: {exc}", file=sys.stderr)
        return 2

    connection = None
    try:
        connection = snowflake_connection_factory(settings).connect()
        result = apply_snowflake_migrations(
            connection,
            args.folder or packaged_migrations(),
            variables,
            change_history_table=args.change_history_table or DEFAULT_CHANGE_HISTORY_TABLE,
            fakesnow=args.fakesnow,
            dry_run=args.dry_run,
        )
    except MigrationError as exc:
        print(f"riskscore migrate: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(
            f"riskscore migrate: {exc.name} is missing; install the snowflake extra"
            " (pip install 'riskscore[snowflake]')",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # connector errors: report, do not dump a traceback
        print(
            f"riskscore migrate: cannot reach Snowflake: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        if connection is not None:
            connection.close()
    verb = "would apply" if args.dry_run else "applied"
    print(
        f"snowflake {variables['database']}: {verb} {len(result.applied)} script(s)"
        f" ({result.statements} statements), skipped {len(result.skipped)} already applied"
        + _listing(result.applied)
    )
    if result.skipped_statements:
        print(f"  fakesnow: skipped {result.skipped_statements} access-control statement(s)")
    for name in result.drifted:
        print(f"  warning: {name} changed since it was applied (checksum drift)", file=sys.stderr)
    return 0


def _listing(names: list[str] | tuple[str, ...]) -> str:
    return "".join(f"\n  {name}" for name in names)
