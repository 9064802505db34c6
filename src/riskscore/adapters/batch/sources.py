"""Where re-scored applications come from: small classes sharing one protocol, streamed in order.

Every source yields ``RescoreInput`` items (``ScoreRequest`` for evidence, ``StoredVector`` for stored
features, ``UnreadableRow`` for a row it could not read) one at a time, so a run holds at most a few
chunks in memory whatever the input size. A row that cannot be read is reported in its place and the
run goes on; a source that cannot be opened at all raises ``SourceError``.

| source | input |
|---|---|
| ``DatasetSource(dir)`` | a ``riskscore generate`` directory: ``labels.csv`` in file order, ``mib/`` and ``rx/`` |
| ``JsonlSource(path)`` | JSON Lines of ``{policy_number, mib_xml, rx_xml, as_of?}`` (other members ignored) |
| ``FeatureStoreSource(store)`` | every stored vector, any schema version (a foreign one fails per row) |
| ``SnowflakeQuerySource(connections, sql, params)`` | a bound query returning ``POLICY_NUMBER, MIB_XML, RX_XML[, AS_OF]`` |
| ``ApplicationsSource(items)`` | an iterable of inputs or of mappings shaped like a JSON line |

``description`` names the input (never its content) so an interrupted run can check it resumes on the
same input; ``total`` is the number of rows when known cheaply (for the progress display).

Two optional capabilities let a run skip per-row work in the parent process:

- ``BatchedSource.batches(batch_size)`` (``FeatureStoreSource``): the rows as column-wise
  ``FeatureBatch``es straight from ``FeatureStore.iter_batches``, scored a batch at a time; and,
  when the store plans pages (``PagedFeatureStore``), ``pages(batch_size, skip=...)``: the same rows
  as ``FeaturePage``s the workers read themselves;
- ``DeferredSource.references()`` (``DatasetSource``): the rows as ``EvidenceFiles`` (a policy
  number, an as-of date and two paths) that the worker scoring the chunk reads itself, so the parent
  neither reads nor ships the XML. ``EvidenceFiles.read`` gives what iterating the source gives.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from riskscore.domain.usecases.rescore import RescoreInput, StoredVector, UnreadableRow
from riskscore.domain.usecases.score_policy import ScoreRequest
from riskscore.ports.feature_store import (
    FeatureBatch,
    FeaturePage,
    FeatureStore,
    FeatureStoreError,
    PagedFeatureStore,
)

SOURCE_TAG = "rescore"
"""``ScoreRequest.source`` of re-scored applications (the use case records ``rescore`` anyway)."""

INVALID_ROW = ("invalid-input-row", "Input row could not be read")
MISSING_EVIDENCE = ("missing-evidence", "Evidence document missing")

Kind = Literal["evidence", "features"]


class SourceError(Exception):
    """The source cannot be read at all (missing directory, failed query): the run cannot start."""


@runtime_checkable
class RescoreSource(Protocol):
    @property
    def description(self) -> str:
        """What the input is (a path, a query, a store), never its content."""
        ...

    @property
    def kind(self) -> Kind:
        """``evidence`` (XML to parse) or ``features`` (stored vectors)."""
        ...

    @property
    def total(self) -> int | None:
        """Number of rows when known without reading them, else None."""
        ...

    def __iter__(self) -> Iterator[RescoreInput]: ...


@runtime_checkable
class BatchedSource(Protocol):
    """A source of stored feature vectors that can hand them over column-wise."""

    def batches(self, batch_size: int) -> Iterator[FeatureBatch]:
        """The rows of ``__iter__``, same order, as batches of at most ``batch_size`` rows."""
        ...

    def pages(self, batch_size: int, *, skip: int = 0) -> Iterator[FeaturePage] | None:
        """The rows after the first ``skip`` as pages any process can read; None if there are none."""
        ...


class EvidenceFiles(msgspec.Struct, frozen=True, kw_only=True):
    """An application whose two evidence documents are files, read where the chunk is scored."""

    policy_number: str
    as_of: dt.date
    mib_path: str
    rx_path: str

    def read(self) -> ScoreRequest | UnreadableRow:
        try:
            mib = _read_file(self.mib_path)
        except OSError:
            return _unreadable(
                self.policy_number, MISSING_EVIDENCE, "mib_xml: no readable mib/<policy>.xml"
            )
        try:
            rx = _read_file(self.rx_path)
        except OSError:
            return _unreadable(
                self.policy_number, MISSING_EVIDENCE, "rx_xml: no readable rx/<policy>.xml"
            )
        return ScoreRequest(
            policy_number=self.policy_number,
            mib_xml=mib,
            rx_xml=rx,
            as_of=self.as_of,
            source=SOURCE_TAG,
        )


def _read_file(path: str) -> bytes:
    """The file's bytes with bare system calls: 8 us for an evidence document where
    ``Path.read_bytes`` (a buffered file object) takes 18 us, and a worker reads two per row."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts = [os.read(fd, _READ_BYTES)]
        while part := os.read(fd, _READ_BYTES):
            parts.append(part)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


_READ_BYTES = 1 << 20


def read_line(number: int, line: bytes | memoryview) -> RescoreInput:
    """Line ``number`` of a JSON Lines source as a request, or the reason it is not one."""
    try:
        return _line_decoder.decode(line).request()
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # msgspec's messages name the member and the type, never the value.
        return _unreadable(JsonlSource.policy_of(line), INVALID_ROW, f"line {number}: {exc}")


class JsonlSpan(msgspec.Struct, frozen=True):
    """Consecutive lines of a JSON Lines file, read and decoded where the chunk is scored.

    The reading process only finds where lines end (about 1.5 us a line); handing every line over
    cost it about 12 us (a bytes object per line, pickling, a pipe write: 1.4 GB for 200,000
    applications) and the worker unpickling it. A span names its bytes, the number of its first
    line and how many non-blank lines it holds; the worker reads them with one ``pread`` and
    checks it finds as many, ending where a line ends (``SourceError`` if the file changed since it
    was planned; a change that keeps all three is not seen, and resuming checks the last row)."""

    path: str
    offset: int
    length: int
    first_line: int
    rows: int

    def read(self) -> list[RescoreInput]:
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                data = os.pread(fd, self.length, self.offset)
                ends_a_line = (
                    data.endswith(b"\n") or self.offset + len(data) == os.fstat(fd).st_size
                )
            finally:
                os.close(fd)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from exc
        rows = [read_line(number, line) for number, line in _nonblank_lines(data, self.first_line)]
        if len(data) != self.length or len(rows) != self.rows or not ends_a_line:
            raise SourceError(f"{self.path} changed while it was read: resume the run")
        return rows


def _nonblank_lines(data: bytes, first_line: int) -> Iterator[tuple[int, memoryview]]:
    """``(number, line)`` of the lines of ``data`` that are not blank, views rather than copies
    (decoding a view saves copying a span, 6.8 MB per 1,000 applications: 3 of 12 us an
    application)."""
    view, find, pos, number = memoryview(data), data.find, 0, first_line
    while pos < len(data):
        end = find(b"\n", pos)
        if end == -1:
            end = len(data)
        if not _blank(data, pos, end):
            yield number, view[pos:end]
        number, pos = number + 1, end + 1


Pending = RescoreInput | EvidenceFiles
"""A row on its way to a worker: ``EvidenceFiles`` are read there (``resolve``)."""


def resolve(rows: list[Pending]) -> list[RescoreInput]:
    """Read the evidence files a chunk refers to; other rows pass."""
    return [row.read() if isinstance(row, EvidenceFiles) else row for row in rows]


@runtime_checkable
class DeferredSource(Protocol):
    """A source whose rows can be handed over as references that workers read themselves."""

    def references(self) -> Iterator[UnreadableRow | EvidenceFiles]:
        """The rows of ``__iter__``, same order, with references in place of requests."""
        ...


class _Application(msgspec.Struct, frozen=True, kw_only=True):
    """One JSON line (or mapping): unknown members such as ``label`` are ignored."""

    policy_number: str
    mib_xml: str
    rx_xml: str
    as_of: dt.date | None = None

    def request(self) -> ScoreRequest:
        return ScoreRequest(
            policy_number=self.policy_number,
            mib_xml=self.mib_xml,
            rx_xml=self.rx_xml,
            as_of=self.as_of,
            source=SOURCE_TAG,
        )


_line_decoder = msgspec.json.Decoder(_Application)
_any_decoder = msgspec.json.Decoder()


def _unreadable(policy_number: str, kind: tuple[str, str], detail: str) -> UnreadableRow:
    return UnreadableRow(policy_number=policy_number, type=kind[0], title=kind[1], detail=detail)


class DatasetSource:
    """A ``riskscore generate`` directory, in the order of ``labels.csv`` (generation order)."""

    kind: Kind = "evidence"

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._labels = self.directory / "labels.csv"
        if not self._labels.is_file():
            raise SourceError(
                f"{self.directory} is not a riskscore generate directory (no labels.csv)"
            )

    @property
    def description(self) -> str:
        return f"dataset:{self.directory.resolve()}"

    @property
    def total(self) -> int | None:
        try:
            manifest = msgspec.json.decode((self.directory / "manifest.json").read_bytes())
            return int(manifest["n"])
        except (OSError, msgspec.DecodeError, KeyError, TypeError, ValueError):
            return None

    def __iter__(self) -> Iterator[RescoreInput]:
        for row in self.references():
            yield row.read() if isinstance(row, EvidenceFiles) else row

    def references(self) -> Iterator[UnreadableRow | EvidenceFiles]:
        """``labels.csv`` rows as file references: only ``labels.csv`` is read here."""
        mib_dir, rx_dir = str(self.directory / "mib"), str(self.directory / "rx")
        try:
            labels = self._labels.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot read {self._labels}: {exc.strerror}") from exc
        with labels:
            labels.readline()  # header: policy_number,as_of,label
            for number, raw in enumerate(labels, start=2):
                line = raw.strip()
                if not line:
                    continue
                yield self._row(number, line, mib_dir, rx_dir)

    @staticmethod
    def _row(number: int, line: bytes, mib_dir: str, rx_dir: str) -> UnreadableRow | EvidenceFiles:
        parts = line.split(b",")
        policy = parts[0].decode("utf-8", "replace")
        if len(parts) != 3 or "/" in policy or "\\" in policy or policy in ("", ".", ".."):
            return _unreadable(policy, INVALID_ROW, f"labels.csv line {number} is not a row")
        try:
            as_of = dt.date.fromisoformat(parts[1].decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return _unreadable(
                policy, INVALID_ROW, f"labels.csv line {number}: as_of is not a date"
            )
        return EvidenceFiles(
            policy_number=policy,
            as_of=as_of,
            mib_path=f"{mib_dir}/{policy}.xml",
            rx_path=f"{rx_dir}/{policy}.xml",
        )


def _application_row(data: object, where: str) -> RescoreInput:
    """A mapping shaped like a JSON line -> a request, or the reason it is not one."""
    try:
        return msgspec.convert(data, _Application).request()
    except msgspec.ValidationError as exc:
        return _unreadable(_policy_of(data), INVALID_ROW, f"{where}: {exc}")


def _policy_of(data: object) -> str:
    if isinstance(data, Mapping):
        policy = data.get("policy_number")
        if isinstance(policy, str):
            return policy
    return ""


class JsonlSource:
    """JSON Lines, one application per line; a line that is not one is reported with its number."""

    kind: Kind = "evidence"
    total: int | None = None

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")

    @property
    def description(self) -> str:
        return f"jsonl:{self.path.resolve()}"

    def __iter__(self) -> Iterator[RescoreInput]:
        for span in self.spans(_ITER_LINES):
            yield from span.read()

    def spans(self, batch_size: int, *, skip: int = 0) -> Iterator[JsonlSpan]:
        """The non-blank lines after the first ``skip``, as spans of ``batch_size`` lines (the last
        may hold fewer) for the workers to read; the same rows, in the same order, as iterating."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        path = str(self.path)
        seen = rows = start = first = end = 0
        for number, (offset, length, blank) in enumerate(_lines_of(self.path), start=1):
            if blank:
                continue
            seen += 1
            if seen <= skip:
                continue
            if not rows:
                start, first = offset, number
            rows += 1
            end = offset + length
            if rows == batch_size:
                yield JsonlSpan(path, start, end - start, first, rows)
                rows = 0
        if rows:
            yield JsonlSpan(path, start, end - start, first, rows)

    @staticmethod
    def policy_of(line: bytes | memoryview) -> str:
        try:
            return _policy_of(_any_decoder.decode(line))
        except msgspec.DecodeError:
            return ""


_ITER_LINES = 256
"""Lines read at once when the source is iterated in this process."""
_SCAN_BYTES = 1 << 20
"""Bytes read at once to find where lines end (doubled for a line longer than that). 1 MB, where
16 MB took 6-18 ms instead of 3.9 to plan the first two spans of 1,000 applications (the run
waits for those before its workers start) and 360-480 ms instead of 290 ms of CPU for 200,000:
a buffer that size is fresh memory from the system every time, and faults in page by page."""
_SPACE = frozenset(b" \t\n\r\x0b\x0c")
"""The bytes ``bytes.isspace`` accepts: a line starting with another byte is not blank."""


def _blank(data: bytes, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` is empty or white space, copying it only when it starts with
    white space."""
    return start == end or (data[start] in _SPACE and data[start:end].isspace())


def _lines_of(path: Path) -> Iterator[tuple[int, int, bool]]:
    """``(offset, length, blank)`` of every line, cut as ``for line in handle`` cuts them (after
    each newline; a last line may lack one), up to the file's size when opened. ``blank`` is
    ``line.isspace()``, tested without copying a line that starts with a non-space byte."""
    try:
        handle = path.open("rb", buffering=0)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        size = os.fstat(handle.fileno()).st_size
        offset, block_bytes = 0, _SCAN_BYTES
        while offset < size:
            try:
                block = os.pread(handle.fileno(), min(block_bytes, size - offset), offset)
            except OSError as exc:
                raise SourceError(f"cannot read {path}: {exc.strerror}") from exc
            if not block:  # the file shrank
                raise SourceError(f"{path} changed while it was read")
            find, pos, last = block.find, 0, offset + len(block) >= size
            while (end := find(b"\n", pos) + 1) > 0:
                yield offset + pos, end - pos, _blank(block, pos, end)
                pos = end
            if last:
                if pos < len(block):
                    yield offset + pos, len(block) - pos, _blank(block, pos, len(block))
                return
            if pos == 0:  # a line longer than the block: read more at once
                block_bytes *= 2
            offset += pos


class FeatureStoreSource:
    """Every stored vector, oldest first; vectors of another schema version fail per row."""

    kind: Kind = "features"
    total: int | None = None

    def __init__(self, store: FeatureStore, *, name: str = "feature-store") -> None:
        self.store = store
        self._name = name

    @property
    def description(self) -> str:
        return self._name

    def __iter__(self) -> Iterator[RescoreInput]:
        try:
            for record in self.store.iter_records():
                yield StoredVector(
                    policy_number=record.policy_number,
                    vector=record.vector,
                    as_of=record.as_of,
                    prediction_id=record.prediction_id,
                )
        except FeatureStoreError as exc:
            raise SourceError(f"feature store: {exc}") from exc

    def batches(self, batch_size: int) -> Iterator[FeatureBatch]:
        try:
            yield from self.store.iter_batches(batch_size=batch_size)
        except FeatureStoreError as exc:
            raise SourceError(f"feature store: {exc}") from exc

    def pages(self, batch_size: int, *, skip: int = 0) -> Iterator[FeaturePage] | None:
        """The rows after the first ``skip`` as pages to read anywhere; None if the store has none."""
        if not isinstance(self.store, PagedFeatureStore):
            return None
        return self._pages(self.store, batch_size, skip)

    @staticmethod
    def _pages(store: PagedFeatureStore, batch_size: int, skip: int) -> Iterator[FeaturePage]:
        try:
            yield from store.pages(batch_size=batch_size, skip=skip)
        except FeatureStoreError as exc:
            raise SourceError(f"feature store: {exc}") from exc


class _Cursor(Protocol):
    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    def execute(self, command: str, params: Any = None) -> Any: ...

    def fetchmany(self, size: int) -> list[Sequence[Any]]: ...

    def close(self) -> Any: ...


class _Connection(Protocol):
    def cursor(self) -> Any: ...

    def close(self) -> Any: ...


class ConnectionFactory(Protocol):
    """``riskscore.adapters.snowflake.connection.SnowflakeConnectionFactory`` or any DB-API opener."""

    def connect(self) -> Any: ...


REQUIRED_COLUMNS = ("POLICY_NUMBER", "MIB_XML", "RX_XML")


class SnowflakeQuerySource:
    """A bound query through the Snowflake connection factory, fetched ``fetch_size`` rows at a time.

    The query must return ``POLICY_NUMBER``, ``MIB_XML``, ``RX_XML`` and optionally ``AS_OF`` (a DATE
    or an ISO date string); other columns are ignored. Parameters are bound by the connector (never
    formatted into the text). ``--resume`` re-runs the query and skips the rows already done, so the
    query needs a deterministic ``ORDER BY``.
    """

    kind: Kind = "evidence"
    total: int | None = None

    def __init__(
        self,
        connections: ConnectionFactory,
        query: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        fetch_size: int = 1000,
    ) -> None:
        if not query.strip():
            raise SourceError("the query is empty")
        self.connections = connections
        self.query = query
        self.params = params
        self.fetch_size = fetch_size

    @property
    def description(self) -> str:
        return f"query:{' '.join(self.query.split())}"

    def __iter__(self) -> Iterator[RescoreInput]:
        try:
            connection: _Connection = self.connections.connect()
        except Exception as exc:
            raise SourceError(f"cannot connect to Snowflake: {_first_line(exc)}") from exc
        try:
            cursor: _Cursor = connection.cursor()
            try:
                cursor.execute(self.query, self.params)
                positions = self._positions(cursor)
                while True:
                    rows = cursor.fetchmany(self.fetch_size)
                    if not rows:
                        return
                    for row in rows:
                        yield self._row(row, positions)
            except SourceError:
                raise
            except Exception as exc:
                raise SourceError(f"the query failed: {_first_line(exc)}") from exc
            finally:
                cursor.close()
        finally:
            connection.close()

    @staticmethod
    def _positions(cursor: _Cursor) -> tuple[int, int, int, int | None]:
        names = [str(column[0]).upper() for column in cursor.description or ()]
        missing = [name for name in REQUIRED_COLUMNS if name not in names]
        if missing:
            raise SourceError(f"the query must return {', '.join(missing)} (it returns {names})")
        as_of = names.index("AS_OF") if "AS_OF" in names else None
        policy, mib, rx = (names.index(name) for name in REQUIRED_COLUMNS)
        return policy, mib, rx, as_of

    @staticmethod
    def _row(row: Sequence[Any], positions: tuple[int, int, int, int | None]) -> RescoreInput:
        policy_at, mib_at, rx_at, as_of_at = positions
        policy = "" if row[policy_at] is None else str(row[policy_at])
        mib, rx = row[mib_at], row[rx_at]
        for name, value in (("MIB_XML", mib), ("RX_XML", rx)):
            if not isinstance(value, str | bytes):
                return _unreadable(policy, MISSING_EVIDENCE, f"{name} is NULL or not text")
        as_of: dt.date | None = None
        if as_of_at is not None and row[as_of_at] is not None:
            value = row[as_of_at]
            if isinstance(value, dt.datetime):
                as_of = value.date()
            elif isinstance(value, dt.date):
                as_of = value
            else:
                try:
                    as_of = dt.date.fromisoformat(str(value))
                except ValueError:
                    return _unreadable(policy, INVALID_ROW, "AS_OF is not a date")
        return ScoreRequest(
            policy_number=policy, mib_xml=mib, rx_xml=rx, as_of=as_of, source=SOURCE_TAG
        )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300]}" if lines else type(exc).__name__


class ApplicationsSource:
    """Inputs already in memory or produced by a generator: ``RescoreInput`` items or mappings."""

    total: int | None = None

    def __init__(
        self,
        items: Iterable[RescoreInput | Mapping[str, Any]],
        *,
        description: str = "applications",
        kind: Kind = "evidence",
    ) -> None:
        self._items = items
        self._description = description
        self.kind = kind

    @property
    def description(self) -> str:
        return self._description

    def __iter__(self) -> Iterator[RescoreInput]:
        for number, item in enumerate(self._items, start=1):
            if isinstance(item, ScoreRequest | StoredVector | UnreadableRow):
                yield item
            else:
                yield _application_row(item, f"item {number}")


def looks_like_query(text: str) -> bool:
    head = text.lstrip().split(None, 1)
    return bool(head) and head[0].upper() in ("SELECT", "WITH")


def open_source(
    source: object,
    *,
    feature_store: FeatureStore | None = None,
    connections: ConnectionFactory | None = None,
) -> RescoreSource:
    """Turn what a caller passed into a source.

    A source passes through; a ``FeatureStore`` is read by ``FeatureStoreSource``; a path to a
    directory is a ``riskscore generate`` dataset and a path to a file is JSON Lines; a string that
    starts with ``SELECT``/``WITH`` and is not an existing path is a Snowflake query (``connections``
    needed); any other iterable is ``ApplicationsSource``. The string ``"feature-store"`` means
    ``feature_store``.
    """
    if isinstance(source, RescoreSource):
        return source
    if isinstance(source, FeatureStore):
        return FeatureStoreSource(source)
    if isinstance(source, str | Path):
        text = str(source)
        path = Path(text)
        if path.is_dir():
            return DatasetSource(path)
        if path.is_file():
            return JsonlSource(path)
        if text == "feature-store":
            if feature_store is None:
                raise SourceError("no feature store to read")
            return FeatureStoreSource(feature_store)
        if looks_like_query(text):
            if connections is None:
                raise SourceError("a SQL query needs a Snowflake connection factory")
            return SnowflakeQuerySource(connections, text)
        raise SourceError(f"{text}: no such file or directory")
    if isinstance(source, Iterable):
        return ApplicationsSource(source)
    raise SourceError(f"cannot rescore from a {type(source).__name__}")
