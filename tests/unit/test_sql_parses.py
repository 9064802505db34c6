"""Every SQL statement in deploy/sql and migrations/snowflake parses with sqlglot's Snowflake dialect.

sqlglot does not model some Snowflake statements (Snowpark Container Services DDL, roles, SHOW, GRANT
OWNERSHIP/ROLE/SERVICE ROLE, CREATE HYBRID TABLE) and falls back to ``exp.Command``, which accepts any
text. Such a statement must (1) tokenize cleanly (strings, ``$$`` bodies and parentheses balanced),
(2) start with one of the heads listed in ``COMMAND_HEADS`` (a reviewed list of statements sqlglot is
known not to model), and (3) pass the structural check written for its head below. Everything else
must parse to a real expression, never to a ``Command``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp
from sqlglot.dialects.snowflake import Snowflake
from sqlglot.errors import ErrorLevel

from riskscore.adapters.snowflake.migrate import normalize, render, split_statements
from riskscore.adapters.snowflake.sql_rewrite import strip_hybrid

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_SQL = sorted((ROOT / "deploy" / "sql").glob("*.sql"))
MIGRATIONS = sorted((ROOT / "migrations" / "snowflake").glob("*.sql"))
SAMPLE_VARIABLES = {
    "database": "RISKSCORE",
    "warehouse": "RISKSCORE_WH",
    "app_role": "RISKSCORE_APP",
    "reader_role": "RISKSCORE_READER",
}

COMMAND_HEADS = (
    "CREATE ROLE",
    "GRANT ROLE",
    "GRANT OWNERSHIP",
    "GRANT SERVICE ROLE",
    "CREATE COMPUTE POOL",
    "ALTER COMPUTE POOL",
    "CREATE IMAGE REPOSITORY",
    "CREATE SERVICE",
    "ALTER SERVICE",
    "SHOW",
    "CREATE HYBRID TABLE",
)


def _statements(path: Path) -> list[str]:
    text = path.read_text()
    if path.parent.name == "snowflake":
        text = normalize(render(text, SAMPLE_VARIABLES, source=path.name))
    return split_statements(text)


def _head(statement: str) -> str:
    return " ".join(statement.split()).upper()


def _parse(statement: str) -> exp.Expression:
    parsed = sqlglot.parse(statement, read="snowflake", error_level=ErrorLevel.RAISE)
    assert len(parsed) == 1, statement
    assert parsed[0] is not None
    return parsed[0]


def _check_balanced(statement: str) -> None:
    tokens = Snowflake().tokenize(statement)  # raises on unterminated strings and $$ bodies
    depth = 0
    for token in tokens:
        depth += (
            {"(": 1, ")": -1}.get(token.text, 0) if token.token_type.name.endswith("PAREN") else 0
        )
        assert depth >= 0, f"unbalanced ')' in: {statement[:80]}"
    assert depth == 0, f"unbalanced '(' in: {statement[:80]}"


def _check_command(statement: str) -> None:
    head = _head(statement)
    matched = [h for h in COMMAND_HEADS if head.startswith(h)]
    assert matched, (
        f"sqlglot cannot parse and it is not a reviewed Snowflake-only statement: {head[:80]}"
    )
    _check_balanced(statement)
    kind = matched[0]
    if kind == "CREATE COMPUTE POOL":
        for prop in ("MIN_NODES", "MAX_NODES", "INSTANCE_FAMILY"):
            assert re.search(rf"\b{prop}\s*=", head), f"compute pool without {prop}"
        low, high = (
            int(re.search(rf"\b{p}\s*=\s*(\d+)", head)[1]) for p in ("MIN_NODES", "MAX_NODES")
        )  # type: ignore[index]
        assert 1 <= low <= high
    elif kind in ("ALTER SERVICE", "ALTER COMPUTE POOL"):
        assert re.search(r"\b(SUSPEND|RESUME|SET\s+\w+\s*=)", head), head
    elif kind == "CREATE SERVICE":
        assert re.search(r"\bIN COMPUTE POOL \w+", head)
        low, high = (
            int(re.search(rf"\b{p}\s*=\s*(\d+)", head)[1])
            for p in ("MIN_INSTANCES", "MAX_INSTANCES")
        )  # type: ignore[index]
        assert 1 <= low <= high
        body = re.search(r"FROM SPECIFICATION \$\$(.*?)\$\$", statement, re.DOTALL)
        assert body is not None, "CREATE SERVICE without an inline specification"
        assert "spec" in yaml.safe_load(body[1])
    elif kind == "CREATE HYBRID TABLE":
        stripped = strip_hybrid(statement)
        assert isinstance(_parse(stripped), exp.Create), (
            "the fakesnow form must parse as CREATE TABLE"
        )
        assert re.search(r"\bPRIMARY KEY\b", head), "a hybrid table needs a primary key"


def _cases() -> list[tuple[str, str]]:
    cases = []
    for path in DEPLOY_SQL + MIGRATIONS:
        for number, statement in enumerate(_statements(path), start=1):
            cases.append((f"{path.parent.name}/{path.name}#{number}", statement))
    return cases


CASES = _cases()


def test_there_is_sql_to_check() -> None:
    assert len(DEPLOY_SQL) >= 5
    assert len(MIGRATIONS) >= 4
    assert len(CASES) > 40


@pytest.mark.parametrize(("where", "statement"), CASES, ids=[w for w, _ in CASES])
def test_statement_parses(where: str, statement: str) -> None:
    parsed = _parse(statement)
    if isinstance(parsed, exp.Command):
        _check_command(statement)
    else:
        assert not _head(statement).startswith(("CREATE HYBRID", "CREATE SERVICE")), where


def test_the_checker_rejects_what_it_must() -> None:
    with pytest.raises(AssertionError):
        _check_command("CREATE WIDGET foo")  # not a reviewed head
    with pytest.raises(AssertionError):
        _check_command("CREATE COMPUTE POOL p MIN_NODES = 2 MAX_NODES = 1 INSTANCE_FAMILY = X")
    with pytest.raises(AssertionError):
        _check_command("ALTER SERVICE s (")
    with pytest.raises(sqlglot.errors.ParseError):
        _parse("SELECT FROM WHERE (")


def test_the_online_feature_table_is_hybrid_with_an_index_and_fakesnow_gets_neither() -> None:
    (statement,) = [s for s in _statements(MIGRATIONS[1]) if "HT_ONLINE_FEATURES" in s]
    tokens = [t.text.upper() for t in Snowflake().tokenize(statement)]
    assert tokens[:3] == ["CREATE", "HYBRID", "TABLE"]
    assert "INDEX" in tokens
    create = _parse(strip_hybrid(statement))
    assert isinstance(create, exp.Create)
    assert create.this.this.name == "HT_ONLINE_FEATURES"
    columns = {c.name for c in create.find_all(exp.ColumnDef)}
    assert {"PREDICTION_ID", "POLICY_NUMBER", "FEATURE_TS", "AS_OF", "FEATURES"} <= columns
    assert "INDEX" not in strip_hybrid(statement).upper()


def test_the_prediction_log_has_the_documented_columns() -> None:
    (statement,) = [s for s in _statements(MIGRATIONS[2]) if "MODEL_PREDICTIONS" in s]
    create = _parse(statement)
    columns = {c.name for c in create.find_all(exp.ColumnDef)}
    assert {
        "PREDICTION_ID",
        "POLICY_NUMBER",
        "PREDICTION",
        "RISK_CLASS",
        "MODEL_NAME",
        "MODEL_VERSION",
        "FEATURE_SCHEMA_VERSION",
        "FEATURE_HASH",
        "REASON_CODES",
        "SCORE_DATE",
        "AS_OF",
        "INFERENCE_MS",
        "TOTAL_MS",
        "SOURCE",
        "BATCH_RUN_ID",
    } <= columns


def test_the_service_function_targets_the_api_endpoint_and_route() -> None:
    (statement,) = [
        s
        for s in _statements(ROOT / "deploy/sql/04_service_function.sql")
        if "FUNCTION" in s and "CREATE" in s
    ]
    head = _head(statement)
    assert "FN_API_PREDICT( POLICY_NUMBER VARCHAR, MIB_XML VARCHAR, RX_XML VARCHAR )" in head
    assert "RETURNS VARIANT" in head
    assert re.search(r"SERVICE = \S*EVIDENCE_API_SERVICE\b", head)
    assert "ENDPOINT = API" in head
    assert re.search(r"MAX_BATCH_ROWS = \d+", head)
    assert head.rstrip(";").endswith("AS '/V1/SERVICE-FUNCTION/SCORE'")
