"""`--export`: a range of one kind of record, from the archive (or the SQLite file), to a file.

    --export --kind K [--exchange E] [--symbol S] --since D [--until D] --format csv|parquet --out FILE

`--since` is included, `--until` excluded (a date is its UTC midnight; default: now). The archive
is read where `parquet.enabled` is on and it holds the kind, else the SQLite file. `csv` is one
header line and, where they exist, tardis' `derivative_ticker` column names (`timestamp`,
`local_timestamp`, `last_price`, `funding_timestamp`, ...; times in microseconds as tardis
writes them), the other columns under their own names; `parquet` keeps the archive's schema with
`exchange` as a column. Rows stream through in batches: the memory used does not grow with the
range. A progress bar shows on a terminal once an export takes longer than a second.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from collector.sinks.parquet.tables import TIME
from collector.config import AppConfig
from collector.errors import ErrorCode
from collector.records import KINDS, TABLES, columns

BATCH_ROWS = 65_536
# Our column -> tardis' derivative_ticker name, where tardis has one.
TARDIS_NAMES = {"ts": "timestamp", "received_at": "local_timestamp", "last": "last_price",
                "next_funding_time": "funding_timestamp"}
_TIMES = ("ts", "received_at", "next_funding_time")


class ExportError(Exception):
    """Bad export input: one line for the user, exit 1."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    kind: str
    since: datetime
    until: datetime
    format: str
    out: Path
    exchange: str | None = None
    symbol: str | None = None


def parse_time(text: str, flag: str) -> datetime:
    """A date (UTC midnight) or an ISO date-time (UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ExportError(f"{flag} {text!r}: expected a date like 2026-12-01 or 2026-12-01T08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def request_from(kind: str | None, since: str | None, until: str | None, fmt: str | None,
                 out: Path | None, exchange: str | None, symbol: str | None) -> ExportRequest:
    missing = [flag for flag, value in (("--kind", kind), ("--since", since), ("--format", fmt), ("--out", out))
               if value is None]
    if missing:
        raise ExportError(f"--export needs {', '.join(missing)}")
    if kind not in KINDS:
        raise ExportError(f"--kind {kind!r}: choose from {', '.join(KINDS)}")
    if fmt not in ("csv", "parquet"):
        raise ExportError(f"--format {fmt!r}: choose csv or parquet")
    start = parse_time(since, "--since")
    end = parse_time(until, "--until") if until else datetime.now(UTC)
    if end <= start:
        raise ExportError(f"--until {end.isoformat()} is not after --since {start.isoformat()}")
    return ExportRequest(kind, start, end, fmt, Path(out), exchange, symbol)


def export(config: AppConfig, request: ExportRequest) -> tuple[int, str]:
    """Write the range; (rows written, where they came from)."""
    archive = Path(config.parquet.path) / request.kind
    if config.parquet.enabled and archive.is_dir():
        batches, total, source = _from_archive(archive, request), _archive_count(archive, request), str(archive)
    elif config.sqlite.enabled and Path(config.sqlite.path).exists():
        batches, total, source = _from_sqlite(Path(config.sqlite.path), request), None, str(config.sqlite.path)
    else:
        raise ExportError(f"nothing to export from: no archive at {archive} (parquet.enabled) and no SQLite "
                          f"file at {config.sqlite.path} (sqlite.enabled)")
    try:
        request.out.parent.mkdir(parents=True, exist_ok=True)
        return _write(batches, request, total), source
    except OSError as err:
        raise ExportError(f"--out {request.out}: {err.strerror or err}") from None


def _filter(request: ExportRequest) -> pc.Expression:
    since, until = pa.scalar(request.since, TIME), pa.scalar(request.until, TIME)
    expression = (pc.field("ts") >= since) & (pc.field("ts") < until)
    # The date partition prunes whole directories before any file is opened.
    expression &= (pc.field("date") >= request.since.strftime("%Y-%m-%d")) & (
        pc.field("date") <= request.until.strftime("%Y-%m-%d"))
    if request.exchange:
        expression &= pc.field("exchange") == request.exchange
    if request.symbol:
        expression &= pc.field("symbol") == request.symbol
    return expression


def _dataset(archive: Path) -> ds.Dataset:
    partitioning = ds.partitioning(pa.schema([("exchange", pa.string()), ("date", pa.string())]), flavor="hive")
    return ds.dataset(archive, format="parquet", partitioning=partitioning)


def _archive_count(archive: Path, request: ExportRequest) -> int:
    return _dataset(archive).count_rows(filter=_filter(request))


def _from_archive(archive: Path, request: ExportRequest) -> Iterator[pa.RecordBatch]:
    scanner = _dataset(archive).scanner(columns=list(columns(request.kind)), filter=_filter(request),
                                        batch_size=BATCH_ROWS)
    for batch in scanner.to_batches():
        if batch.num_rows:
            yield batch


def _from_sqlite(path: Path, request: ExportRequest) -> Iterator[pa.RecordBatch]:
    names = columns(request.kind)
    sql = f"SELECT {', '.join(names)} FROM {TABLES[request.kind]} WHERE ts >= ? AND ts < ?"
    params: list[object] = [_ms(request.since), _ms(request.until)]
    for column, value in (("exchange", request.exchange), ("symbol", request.symbol)):
        if value:
            sql += f" AND {column} = ?"
            params.append(value)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        cursor = connection.execute(sql + " ORDER BY exchange, symbol, ts", params)
        while rows := cursor.fetchmany(BATCH_ROWS):
            data = list(zip(*rows, strict=True))
            arrays = [pa.array(values, pa.int64()).cast(TIME) if name in _TIMES
                      else pa.array(values, pa.string() if name in ("exchange", "symbol") else pa.float64())
                      for name, values in zip(names, data, strict=True)]
            yield pa.RecordBatch.from_arrays(arrays, names=list(names))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _write(batches: Iterator[pa.RecordBatch], request: ExportRequest, total: int | None) -> int:
    from tqdm import tqdm
    written = 0
    with tqdm(total=total, unit=" rows", delay=1.0, disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
        writer = None
        try:
            for batch in batches:
                batch = _as_csv_batch(batch) if request.format == "csv" else _plain(batch)
                if writer is None:
                    writer = (pa_csv.CSVWriter(request.out, batch.schema) if request.format == "csv"
                              else pq.ParquetWriter(request.out, batch.schema, compression="zstd"))
                writer.write_batch(batch)
                written += batch.num_rows
                bar.update(batch.num_rows)
            if writer is None:  # nothing in range: still a valid, empty file with its header
                writer = _empty_writer(request)
        finally:
            if writer is not None:
                writer.close()
    return written


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Dictionary columns decoded: batches of different files then share one schema."""
    arrays = [column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
              for column in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _as_csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    batch = _plain(batch)
    arrays, names = [], []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in _TIMES:
            column = pc.multiply(column.cast(pa.int64()), 1000)  # tardis: microseconds
        arrays.append(column)
        names.append(TARDIS_NAMES.get(name, name))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _empty_writer(request: ExportRequest) -> pa_csv.CSVWriter | pq.ParquetWriter:
    names = list(columns(request.kind))
    fields = [pa.field(n, TIME if n in _TIMES else pa.string() if n in ("exchange", "symbol") else pa.float64())
              for n in names]
    empty = pa.RecordBatch.from_pylist([], schema=pa.schema(fields))
    if request.format == "csv":
        empty = _as_csv_batch(empty)
        return pa_csv.CSVWriter(request.out, empty.schema)
    return pq.ParquetWriter(request.out, empty.schema, compression="zstd")


def run(config: AppConfig, request: ExportRequest) -> int:
    """The command: 0 and a one-line summary, or 1 and one coded line."""
    try:
        rows, source = export(config, request)
    except ExportError as err:
        print(f"{ErrorCode.ARCHIVE_001} export: {err}", file=sys.stderr)
        return 1
    print(f"exported {rows} {request.kind} rows from {source} to {request.out}")
    return 0
