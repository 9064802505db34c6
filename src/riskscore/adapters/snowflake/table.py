"""One riskscore table in Snowflake: batched idempotent writes, point and list reads, keyset streams.

Both stores are a ``SnowflakeTable`` plus their own row encoding; the port errors they raise come in
through ``unavailable`` / ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from riskscore.adapters.snowflake.codec import encode_batch
from riskscore.adapters.snowflake.connection import (
    SnowflakeClient,
    SnowflakeConnectionFactory,
    SqlCursor,
    execute,
    fetch_all,
    fetch_one,
)
from riskscore.adapters.snowflake.sql import keyset_page, merge_json_rows, qualified

KEY = "PREDICTION_ID"


class SnowflakeTable:
    def __init__(
        self,
        connections: SnowflakeConnectionFactory,
        *,
        database: str,
        table: str,
        columns: Sequence[tuple[str, str]],
        time_column: str,
        unavailable: Callable[[str], Exception],
        failed: Callable[[str], Exception],
        batch_rows: int,
        page_rows: int,
    ) -> None:
        if batch_rows < 1 or page_rows < 1:
            raise ValueError("batch_rows and page_rows must be positive")
        self.name = qualified(database, table)
        names = [name for name, _ in columns]
        self.select = f"SELECT {', '.join(names)} FROM {self.name}"  # noqa: S608
        self._merge = merge_json_rows(self.name, KEY, columns)
        self._order = (time_column, KEY)
        self._order_at = (names.index(time_column), names.index(KEY))
        self._batch_rows = batch_rows
        self._page_rows = page_rows
        self.client = SnowflakeClient(connections, unavailable=unavailable, failed=failed)

    def merge(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows whose key is new, ``batch_rows`` per statement (rows hold each key once)."""
        for start in range(0, len(rows), self._batch_rows):
            batch = encode_batch(list(rows[start : start + self._batch_rows]))
            self.client.run(partial(execute, query=self._merge, params=(batch,)))

    def one(self, where: str, params: Sequence[Any]) -> Sequence[Any] | None:
        return self.client.run(partial(fetch_one, query=f"{self.select} {where}", params=params))

    def all(self, where: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return self.client.run(partial(fetch_all, query=f"{self.select} {where}", params=params))

    def stream(self, filters: Sequence[str], values: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """Rows matching ``filters`` by ``(time, id)``, a keyset page per query."""
        first = keyset_page(self.select, filters, self._order, after=False)
        following = keyset_page(self.select, filters, self._order, after=True)
        time_at, id_at = self._order_at
        rows = self.client.run(partial(fetch_all, query=first, params=(*values, self._page_rows)))
        while rows:
            yield from rows
            if len(rows) < self._page_rows:
                return
            last = rows[-1]
            params = (*values, last[time_at], last[time_at], last[id_at], self._page_rows)
            rows = self.client.run(partial(fetch_all, query=following, params=params))

    def run(self, work: Callable[[SqlCursor], Any]) -> Any:
        return self.client.run(work)

    def close(self) -> None:
        self.client.close()
