"""Apply ``migrations/snowflake`` the way schemachange does, so switching to schemachange is seamless.

Compatibility with schemachange (facts from its source, see docs/snowflake.md):

- Scripts are ``V<version>__<description>.sql`` (or ``.sql.jinja``); versions compare by their numeric
  parts (``1.10.0`` after ``1.9.0``); a duplicate version is an error.
- Scripts are templates with ``{{ name }}`` placeholders; an unreplaced placeholder is an error.
  riskscore renders only plain ``{{ name }}`` substitutions (no filters, tags or comments): its scripts
  need no more, and a construct the tiny renderer does not know is refused rather than half-rendered.
- The rendered text is normalized as schemachange 4 does before checksumming and running it: a UTF-8
  BOM and surrounding blank space removed, then one trailing ``;``. (A script must not end with a
  comment: schemachange would append a no-op statement and checksum that.)
- History goes to ``METADATA.SCHEMACHANGE.CHANGE_HISTORY`` (same columns, created if missing, like
  ``--create-change-history-table``): VERSION, DESCRIPTION (underscores to spaces, capitalized), SCRIPT
  (file name without ``.jinja``), SCRIPT_TYPE ``V``, CHECKSUM (SHA-224 hex of the rendered script),
  EXECUTION_TIME (whole seconds), STATUS ``Success``, INSTALLED_BY (CURRENT_USER()), INSTALLED_ON.
- A script whose version is at or below the highest applied version is skipped; a skipped script whose
  checksum differs from the recorded one is reported as drifted.

Repeatable (``R__``) and always (``A__``) scripts are not used by riskscore and are refused.

``fakesnow=True`` is for tests: the rendered script goes through ``strip_hybrid`` (fakesnow has no hybrid
tables), access-control statements (GRANT/REVOKE, which fakesnow does not implement) are skipped, and
the databases are created (fakesnow has no administrator to run ``deploy/sql/00_setup.sql``).

DDL in Snowflake commits implicitly, so a script that fails half-way is not rolled back; every script
uses ``IF NOT EXISTS`` so that re-running it after a fix is safe. A failed script is not recorded.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from io import StringIO
from pathlib import Path

import msgspec

from riskscore.adapters.snowflake.connection import SqlConnection, SqlCursor

DEFAULT_CHANGE_HISTORY_TABLE = "METADATA.SCHEMACHANGE.CHANGE_HISTORY"

_SCRIPT_NAME = re.compile(
    r"^V(?P<version>[0-9][0-9A-Za-z._]*?)__(?P<description>.+?)\.sql(?:\.jinja)?$", re.IGNORECASE
)
_OTHER_SCRIPT = re.compile(r"^[RA]__.+\.sql(?:\.jinja)?$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_ACCESS_CONTROL = re.compile(r"^\s*(GRANT|REVOKE)\b", re.IGNORECASE)


class MigrationError(Exception):
    """A script could not be found, rendered or applied."""


class MigrationScript(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    description: str
    name: str
    path: Path

    @property
    def key(self) -> tuple[int | str, ...]:
        return version_key(self.version)


class MigrationResult(msgspec.Struct, frozen=True, kw_only=True):
    applied: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    drifted: tuple[str, ...] = ()
    """Already-applied scripts whose rendered text no longer matches the recorded checksum."""
    statements: int = 0
    skipped_statements: int = 0
    """Statements not sent (access control on fakesnow)."""


def version_key(version: str) -> tuple[int | str, ...]:
    """Compare versions by numeric parts: ``1.10.0`` sorts after ``1.9.0`` (as schemachange does)."""
    return tuple(
        int(part) if part.isdigit() else part.lower()
        for part in re.split(r"([0-9]+)", version)
        if part not in ("", ".", "_")
    )


def discover_scripts(folder: Path) -> list[MigrationScript]:
    """Every versioned script under ``folder`` (recursively), in version order."""
    if not folder.is_dir():
        raise MigrationError(f"migrations folder not found: {folder}")
    scripts: list[MigrationScript] = []
    seen: dict[tuple[int | str, ...], Path] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or not path.name.lower().endswith((".sql", ".sql.jinja")):
            continue
        match = _SCRIPT_NAME.match(path.name)
        if match is None:
            kind = (
                "repeatable/always scripts are not supported"
                if _OTHER_SCRIPT.match(path.name)
                else "bad name"
            )
            raise MigrationError(f"{path.name}: {kind} (expected V<version>__<description>.sql)")
        script = MigrationScript(
            version=match["version"],
            description=match["description"].replace("_", " ").capitalize(),
            name=path.name[: -len(".jinja")] if path.name.lower().endswith(".jinja") else path.name,
            path=path,
        )
        if script.key in seen:
            raise MigrationError(
                f"version {script.version} appears twice: {seen[script.key].name}, {path.name}"
            )
        seen[script.key] = path
        scripts.append(script)
    return sorted(scripts, key=lambda s: s.key)


def render(template: str, variables: Mapping[str, str], *, source: str = "script") -> str:
    """Replace ``{{ name }}`` placeholders; refuse unknown names and any other template syntax."""
    missing = sorted({m[1] for m in _PLACEHOLDER.finditer(template)} - set(variables))
    if missing:
        raise MigrationError(f"{source}: no value for template variable(s) {', '.join(missing)}")
    rendered = _PLACEHOLDER.sub(lambda m: variables[m[1]], template)
    leftover = _TEMPLATE_SYNTAX.search(_PLACEHOLDER.sub("", template))
    if leftover is not None:
        line = template.count("\n", 0, leftover.start()) + 1
        raise MigrationError(
            f"{source}:{line}: unsupported template syntax {leftover[0]!r} "
            "(only {{ name }} placeholders are rendered)"
        )
    return rendered


def normalize(rendered: str) -> str:
    """schemachange's post-processing of a rendered script (what it checksums and runs)."""
    content = rendered.removeprefix("\ufeff").strip()
    return content[:-1] if content.endswith(";") else content


def checksum(content: str) -> str:
    """schemachange's checksum: SHA-224 hex digest of the rendered script."""
    return hashlib.sha224(content.encode("utf-8")).hexdigest()


def split_statements(script: str) -> list[str]:
    """Statements of a script, comments removed, split the way the Snowflake connector splits them."""
    from snowflake.connector.util_text import split_statements as connector_split

    statements: list[str] = []
    for statement, _is_put_or_get in connector_split(StringIO(script), remove_comments=True):
        text = statement.strip()
        if text and text != ";":
            statements.append(text)
    return statements


def check_identifier(name: str, what: str) -> str:
    """Template values become SQL identifiers: refuse anything that is not a plain one."""
    if not _IDENTIFIER.match(name):
        raise MigrationError(f"{what} must be a plain Snowflake identifier, got {name!r}")
    return name


def parse_table_name(fq_name: str) -> tuple[str, str, str]:
    parts = fq_name.split(".")
    if len(parts) != 3:
        raise MigrationError(f"change history table must be DATABASE.SCHEMA.TABLE, got {fq_name!r}")
    database, schema, table = (check_identifier(p, "change history table part") for p in parts)
    return database, schema, table


class AppliedScript(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    script: str
    checksum: str


def apply_snowflake_migrations(
    connection: SqlConnection,
    folder: Path,
    variables: Mapping[str, str],
    *,
    change_history_table: str = DEFAULT_CHANGE_HISTORY_TABLE,
    fakesnow: bool = False,
    dry_run: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
) -> MigrationResult:
    """Apply pending versioned scripts from ``folder`` in order, recording each in the history table."""
    history_db, history_schema, _ = parse_table_name(change_history_table)
    scripts = discover_scripts(folder)
    rendered = {
        s.name: normalize(render(s.path.read_text(encoding="utf-8"), variables, source=s.name))
        for s in scripts
    }
    cursor = connection.cursor()
    try:
        if fakesnow and not dry_run:
            databases = {history_db, variables.get("database", history_db)}
            for database in sorted(databases):
                cursor.execute(
                    f"CREATE DATABASE IF NOT EXISTS {check_identifier(database, 'database')}"
                )
        if not dry_run:
            _ensure_history_table(cursor, history_db, history_schema, change_history_table)
        applied_before = _read_history(cursor, change_history_table, missing_ok=dry_run)
        max_applied = max((version_key(a.version) for a in applied_before), default=None)
        by_script = {a.script: a for a in applied_before}

        applied: list[str] = []
        skipped: list[str] = []
        drifted: list[str] = []
        statements = 0
        skipped_statements = 0
        for script in scripts:
            content = rendered[script.name]
            digest = checksum(content)
            if max_applied is not None and script.key <= max_applied:
                skipped.append(script.name)
                recorded = by_script.get(script.name)
                if recorded is not None and recorded.checksum != digest:
                    drifted.append(script.name)
                continue
            sql = content
            if fakesnow:
                from riskscore.adapters.snowflake.sql_rewrite import strip_hybrid

                sql = strip_hybrid(sql)
            to_run = split_statements(sql)
            if fakesnow:
                kept = [s for s in to_run if not _ACCESS_CONTROL.match(s)]
                skipped_statements += len(to_run) - len(kept)
                to_run = kept
            if dry_run:
                applied.append(script.name)
                statements += len(to_run)
                continue
            started = monotonic()
            for number, statement in enumerate(to_run, start=1):
                try:
                    cursor.execute(statement)
                except Exception as exc:
                    raise MigrationError(
                        f"{script.name}: statement {number} of {len(to_run)} failed: {exc}"
                    ) from exc
            statements += len(to_run)
            _record(cursor, change_history_table, script, digest, round(monotonic() - started))
            applied.append(script.name)
        return MigrationResult(
            applied=tuple(applied),
            skipped=tuple(skipped),
            drifted=tuple(drifted),
            statements=statements,
            skipped_statements=skipped_statements,
        )
    finally:
        cursor.close()


def _ensure_history_table(cursor: SqlCursor, database: str, schema: str, table: str) -> None:
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{schema}")
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "VERSION VARCHAR, DESCRIPTION VARCHAR, SCRIPT VARCHAR, SCRIPT_TYPE VARCHAR, "
        "CHECKSUM VARCHAR, EXECUTION_TIME NUMBER, STATUS VARCHAR, INSTALLED_BY VARCHAR, "
        "INSTALLED_ON TIMESTAMP_LTZ)"
    )


def _read_history(cursor: SqlCursor, table: str, *, missing_ok: bool) -> list[AppliedScript]:
    try:
        cursor.execute(
            f"SELECT VERSION, SCRIPT, CHECKSUM FROM {table} "  # noqa: S608 - validated identifier
            "WHERE SCRIPT_TYPE = 'V' AND STATUS = 'Success'"
        )
    except Exception:
        if missing_ok:
            return []
        raise
    return [
        AppliedScript(version=str(v), script=str(s), checksum=str(c))
        for v, s, c in cursor.fetchall()
        if v not in (None, "")
    ]


def _record(
    cursor: SqlCursor, table: str, script: MigrationScript, digest: str, seconds: int
) -> None:
    cursor.execute(
        f"INSERT INTO {table} (VERSION, DESCRIPTION, SCRIPT, SCRIPT_TYPE, CHECKSUM, "
        "EXECUTION_TIME, STATUS, INSTALLED_BY, INSTALLED_ON) "
        "SELECT %s, %s, %s, 'V', %s, %s, 'Success', CURRENT_USER(), CURRENT_TIMESTAMP()",
        (script.version, script.description, script.name, digest, seconds),
    )
