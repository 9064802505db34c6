"""Rewrite Snowflake DDL that fakesnow cannot run, for tests only.

fakesnow (DuckDB underneath) has no ``CREATE HYBRID TABLE`` and no inline ``INDEX`` clause. Rather than
keep a second, hand-written copy of the DDL for tests, the migration runner applies ``strip_hybrid`` to
the *real* migration scripts when (and only when) it is told it talks to fakesnow.

The rewrite works on sqlglot's Snowflake tokens, not on raw text, so comments, string literals and
quoted identifiers that happen to contain ``HYBRID`` or ``INDEX`` are never touched. Token offsets
point into the original text, so everything outside the removed spans is kept byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import Token, TokenType
from sqlglot.dialects.snowflake import Snowflake

_NAME_TOKENS = frozenset({TokenType.VAR, TokenType.IDENTIFIER})
_COLUMN_LIST_STOP = frozenset({TokenType.SEMICOLON, TokenType.ALIAS, TokenType.LIKE})


class SqlRewriteError(ValueError):
    """The SQL could not be tokenized or has a HYBRID TABLE statement with unbalanced parentheses."""


def strip_hybrid(sql: str) -> str:
    """Turn every ``CREATE [OR REPLACE] HYBRID TABLE`` into a plain ``CREATE TABLE``.

    Inline index clauses ``INDEX name (cols) [INCLUDE (cols)]`` are removed from the column list of
    those statements (with their separating comma). Everything else (other statements, plain tables,
    out-of-line ``CREATE INDEX``) is returned unchanged. Idempotent.
    """
    try:
        tokens = Snowflake().tokenize(sql)
    except Exception as exc:  # sqlglot raises TokenError, but be robust to its internals
        raise SqlRewriteError(f"cannot tokenize SQL: {exc}") from exc
    cuts: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        hybrid_at = _hybrid_keyword_index(tokens, i)
        if hybrid_at is None:
            i += 1
            continue
        # Drop the HYBRID keyword and the blank space up to TABLE.
        cuts.append((tokens[hybrid_at].start, tokens[hybrid_at + 1].start))
        paren_at = _column_list_start(tokens, hybrid_at + 2)
        if paren_at is None:  # CTAS or LIKE: no column list to clean
            i = hybrid_at + 2
            continue
        index_cuts, i = _index_clause_cuts(tokens, paren_at, sql)
        cuts.extend(index_cuts)
    return _apply_cuts(sql, cuts)


def _hybrid_keyword_index(tokens: Sequence[Token], i: int) -> int | None:
    """If ``tokens[i]`` starts ``CREATE [OR REPLACE] HYBRID TABLE``, the index of ``HYBRID``."""
    if tokens[i].token_type != TokenType.CREATE:
        return None
    j = i + 1
    if (
        j + 1 < len(tokens)
        and tokens[j].token_type == TokenType.OR
        and tokens[j + 1].text.upper() == "REPLACE"
    ):
        j += 2
    if (
        j + 1 < len(tokens)
        and tokens[j].token_type == TokenType.VAR
        and tokens[j].text.upper() == "HYBRID"
        and tokens[j + 1].token_type == TokenType.TABLE
    ):
        return j
    return None


def _column_list_start(tokens: Sequence[Token], start: int) -> int | None:
    """Index of the ``(`` opening the column list after the table name, if the statement has one."""
    for k in range(start, len(tokens)):
        kind = tokens[k].token_type
        if kind == TokenType.L_PAREN:
            return k
        if kind in _COLUMN_LIST_STOP:
            return None
    return None


def _index_clause_cuts(
    tokens: Sequence[Token], paren_at: int, sql: str
) -> tuple[list[tuple[int, int]], int]:
    """Spans to remove for inline INDEX elements of the column list opened at ``paren_at``.

    Answers the spans and the token index just past the closing parenthesis.
    """
    elements: list[tuple[int, int]] = []  # (first token, last token) of each element, depth 1
    depth = 0
    element_start = paren_at + 1
    k = paren_at
    while k < len(tokens):
        kind = tokens[k].token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                if element_start <= k - 1:
                    elements.append((element_start, k - 1))
                break
        elif kind == TokenType.COMMA and depth == 1:
            elements.append((element_start, k - 1))
            element_start = k + 1
        k += 1
    else:
        raise SqlRewriteError("unbalanced parentheses in a CREATE HYBRID TABLE statement")

    cuts: list[tuple[int, int]] = []
    for n, (first, last) in enumerate(elements):
        if not _is_index_clause(tokens, first, last):
            continue
        if n > 0:
            # Remove from the separating comma before the clause through its last token.
            comma = first - 1
            cuts.append((tokens[comma].start, tokens[last].end + 1))
        elif len(elements) > 1:
            # First element (unusual but legal): remove it and the comma after it.
            comma = last + 1
            end = tokens[comma].end + 1
            while end < len(sql) and sql[end] in " \t":
                end += 1
            cuts.append((tokens[first].start, end))
        else:
            cuts.append((tokens[first].start, tokens[last].end + 1))
    return cuts, k + 1


def _is_index_clause(tokens: Sequence[Token], first: int, last: int) -> bool:
    """``INDEX <name> ( ... ) [INCLUDE ( ... )]``: a column named INDEX would have a type next."""
    return (
        last - first >= 3
        and tokens[first].token_type == TokenType.INDEX
        and tokens[first + 1].token_type in _NAME_TOKENS
        and tokens[first + 2].token_type == TokenType.L_PAREN
        and tokens[last].token_type == TokenType.R_PAREN
    )


def _apply_cuts(sql: str, cuts: list[tuple[int, int]]) -> str:
    out: list[str] = []
    position = 0
    for start, end in sorted(cuts):
        out.append(sql[position:start])
        position = max(position, end)
    out.append(sql[position:])
    return "".join(out)
