"""``strip_hybrid``: the one rewrite that lets fakesnow run the real hybrid-table DDL."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from riskscore.adapters.snowflake.sql_rewrite import SqlRewriteError, strip_hybrid


def _squash(sql: str) -> str:
    return " ".join(sql.split())


def test_hybrid_keyword_and_inline_index_are_removed() -> None:
    sql = (
        "CREATE HYBRID TABLE db.s.t (\n"
        "    id VARCHAR NOT NULL PRIMARY KEY,\n"
        "    policy VARCHAR,\n"
        "    INDEX ix_policy (policy)\n"
        ");"
    )
    out = strip_hybrid(sql)
    assert (
        _squash(out) == "CREATE TABLE db.s.t ( id VARCHAR NOT NULL PRIMARY KEY, policy VARCHAR );"
    )
    assert isinstance(sqlglot.parse_one(out, read="snowflake"), exp.Create)


def test_or_replace_if_not_exists_and_quoted_names() -> None:
    sql = 'CREATE OR REPLACE HYBRID TABLE IF NOT EXISTS "My Table" (a INT PRIMARY KEY, INDEX "ix a" (a))'
    assert (
        strip_hybrid(sql) == 'CREATE OR REPLACE TABLE IF NOT EXISTS "My Table" (a INT PRIMARY KEY)'
    )


def test_several_indexes_and_include_clauses() -> None:
    sql = (
        "CREATE HYBRID TABLE t (a INT PRIMARY KEY, b INT, c VARCHAR,"
        " INDEX ix_b (b) INCLUDE (c), INDEX ix_bc (b, c), INDEX ix_c (c) INCLUDE (a, b))"
    )
    assert strip_hybrid(sql) == "CREATE TABLE t (a INT PRIMARY KEY, b INT, c VARCHAR)"


def test_index_as_first_element_takes_its_following_comma() -> None:
    sql = "CREATE HYBRID TABLE t (INDEX ix_b (b), a INT PRIMARY KEY, b INT)"
    assert strip_hybrid(sql) == "CREATE TABLE t (a INT PRIMARY KEY, b INT)"


def test_comments_strings_and_quoted_identifiers_mentioning_index_are_kept() -> None:
    sql = (
        "-- CREATE HYBRID TABLE in a comment stays as it is\n"
        "CREATE HYBRID TABLE t (\n"
        "    a INT PRIMARY KEY, -- INDEX ix_fake (a)\n"
        "    note VARCHAR DEFAULT 'INDEX ix_q (a)', /* INDEX ix_r (a) */\n"
        '    "INDEX" INT,\n'
        "    INDEX ix_real (note)\n"
        ")"
    )
    out = strip_hybrid(sql)
    assert out.startswith("-- CREATE HYBRID TABLE in a comment stays as it is\nCREATE TABLE t (")
    assert "-- INDEX ix_fake (a)" in out
    assert "DEFAULT 'INDEX ix_q (a)'" in out
    assert "/* INDEX ix_r (a) */" in out
    assert '"INDEX" INT' in out
    assert "ix_real" not in out
    assert isinstance(sqlglot.parse(out, read="snowflake")[0], exp.Create)


def test_a_column_named_index_is_not_an_index_clause() -> None:
    # INDEX followed by a type, not by a name and a parenthesis.
    sql = "CREATE HYBRID TABLE t (a INT PRIMARY KEY, index VARCHAR(10))"
    assert strip_hybrid(sql) == "CREATE TABLE t (a INT PRIMARY KEY, index VARCHAR(10))"


def test_other_statements_are_untouched() -> None:
    sql = (
        "CREATE TABLE plain (a INT);\n"
        "CREATE INDEX ix ON plain (a);\n"
        "SELECT 'CREATE HYBRID TABLE x (INDEX i (a))' AS s;\n"
        "CREATE SCHEMA hybrid;\n"
    )
    assert strip_hybrid(sql) == sql


def test_ctas_and_like_lose_only_the_keyword() -> None:
    assert (
        strip_hybrid("CREATE HYBRID TABLE t AS SELECT 1 AS a") == "CREATE TABLE t AS SELECT 1 AS a"
    )
    assert strip_hybrid("CREATE HYBRID TABLE t LIKE u") == "CREATE TABLE t LIKE u"


def test_every_statement_of_a_script_is_rewritten_and_the_rewrite_is_idempotent() -> None:
    sql = (
        "CREATE HYBRID TABLE a (x INT PRIMARY KEY, INDEX i (x));\n"
        "create hybrid table b (y INT PRIMARY KEY, y2 INT, index j (y2));\n"
    )
    once = strip_hybrid(sql)
    assert "HYBRID" not in once.upper()
    assert "INDEX" not in once.upper()
    assert strip_hybrid(once) == once
    assert len(sqlglot.parse(once, read="snowflake")) == 2


def test_unbalanced_parentheses_are_an_error() -> None:
    with pytest.raises(SqlRewriteError):
        strip_hybrid("CREATE HYBRID TABLE t (a INT PRIMARY KEY, INDEX i (a)")


def test_untokenizable_sql_is_an_error() -> None:
    with pytest.raises(SqlRewriteError):
        strip_hybrid("CREATE HYBRID TABLE t (a VARCHAR DEFAULT 'unterminated)")
