"""Records to Arrow tables: the archive's schema, partitions, order and deduplication.

Columns and names are the SQL tables' (`records.columns(kind)`) except `exchange`, which the
`exchange=` directory carries (Hive style: Spark, DuckDB and polars add it back from the path,
and a column in both places makes some readers refuse the file). Times are
`timestamp[ms, tz=UTC]`, `symbol` is dictionary-encoded, rows are sorted by `(symbol, ts)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa

from collector.sinks.parquet.layout import day_of
from collector.records import KINDS, columns

TIME: Final = pa.timestamp("ms", tz="UTC")
_TIME_COLUMNS: Final = frozenset({"ts", "received_at", "next_funding_time"})
_DAY_MS: Final = 86_400_000
PartitionKey = tuple[str, str, str]  # kind, exchange, day


def file_columns(kind: str) -> tuple[str, ...]:
    return tuple(name for name in columns(kind) if name != "exchange")


def _type_of(name: str) -> pa.DataType:
    if name == "symbol":
        return pa.dictionary(pa.int32(), pa.string())
    return TIME if name in _TIME_COLUMNS else pa.float64()


SCHEMAS: Final = {kind: pa.schema([pa.field(name, _type_of(name), nullable=name not in ("symbol", "ts"))
                                   for name in file_columns(kind)]) for kind in KINDS}
Row = Sequence[Any]  # a record as the journal's frames and the writer process's requests hold it (wire.py)
# Where each file column stands in a row: `[kind, *values in records.columns(kind)]`.
_AT: Final = {kind: {name: 1 + i for i, name in enumerate(columns(kind))} for kind in KINDS}
_KIND, _EXCHANGE, _TS = 0, 1, 3


def split(rows: Iterable[Row]) -> dict[PartitionKey, list[Row]]:
    """The rows of each (kind, exchange, UTC day of ts), in journal order."""
    groups: dict[PartitionKey, list[Row]] = {}
    days: dict[int, str] = {}
    for row in rows:
        ts = row[_TS]
        day_number = ts // _DAY_MS
        day = days.get(day_number) or days.setdefault(day_number, day_of(ts))
        key = (row[_KIND], row[_EXCHANGE], day)
        group = groups.get(key)
        if group is None:
            groups[key] = group = []
        group.append(row)
    return groups


def to_table(kind: str, rows: Sequence[Row]) -> pa.Table:
    """One partition's rows as a table, sorted by (symbol, ts), one row per identity.

    Built column by column through numpy buffers, not `pa.array(list)`: twice as fast, and
    pyarrow's conversion of Python objects imports pandas (~60 MB of RSS) wherever it is
    installed."""
    at = _AT[kind]
    values_of = list(zip(*rows, strict=False))  # the row's columns; a row never ends early (wire.py)
    codes, symbols = _encode(values_of[at["symbol"]])
    ts = np.array(values_of[at["ts"]], np.int64)
    ranks = _rank(symbols)[codes]
    keep = _first_of_each_sorted(ranks, ts)
    arrays = []
    for name in file_columns(kind):
        if name == "symbol":
            arrays.append(_symbols(ranks[keep], symbols))
        elif name == "ts":
            arrays.append(_int_array(ts[keep], TIME))
        else:  # None becomes NaN here, then a null
            values = np.array(values_of[at[name]], dtype=np.float64)[keep]
            arrays.append(_nullable(values, TIME if name in _TIME_COLUMNS else pa.float64()))
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[kind])


def finish(table: pa.Table, kind: str) -> pa.Table:
    """Keep the first row of each (symbol, ts), sort by it, and give it the archive's schema."""
    codes, symbols = _encode_column(table.column("symbol"))
    ts = _int64s(table.column("ts"))
    ranks = _rank(symbols)[codes]
    keep = _first_of_each_sorted(ranks, ts)
    table = table.take(_int_array(keep, pa.int64()))
    table = table.set_column(table.schema.get_field_index("symbol"), "symbol", _symbols(ranks[keep], symbols))
    return table.select(list(file_columns(kind))).cast(SCHEMAS[kind])


def _encode(symbols: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (int32) and the distinct values, in first-seen order."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(s, len(index)) for s in symbols), np.int32, len(symbols))
    return codes, list(index)


def _encode_column(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """`_encode` of a column; dictionary chunks through their (small) dictionaries, in numpy."""
    if not pa.types.is_dictionary(column.type):
        return _encode(column.to_pylist())
    index: dict[str, int] = {}
    parts = []
    for chunk in column.chunks:
        mapping = np.array([index.setdefault(v, len(index)) for v in chunk.dictionary.to_pylist()], np.int32)
        indices = chunk.indices.cast(pa.int32())
        local = np.frombuffer(indices.buffers()[1], np.int32, len(indices), indices.offset)
        parts.append(mapping[local] if len(mapping) else local)
    return (np.concatenate(parts) if parts else np.empty(0, np.int32)), list(index)


def _rank(values: list[str]) -> np.ndarray:
    """The rank of each distinct value in sorted order (code -> rank)."""
    rank = np.empty(len(values), np.int64)
    rank[sorted(range(len(values)), key=values.__getitem__)] = np.arange(len(values))
    return rank


def _first_of_each_sorted(symbol_rank: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Row numbers sorted by (symbol, ts), the first in input order of each (symbol, ts) only."""
    order = np.lexsort((ts, symbol_rank))  # stable: equal keys keep their input order
    if len(order) < 2:
        return order
    ranks, times = symbol_rank[order], ts[order]
    new = np.empty(len(order), bool)
    new[0] = True
    new[1:] = (ranks[1:] != ranks[:-1]) | (times[1:] != times[:-1])
    return order[new]


def _symbols(ranks: np.ndarray, symbols: list[str]) -> pa.DictionaryArray:
    """The symbol column: codes into the sorted distinct symbols (the same file, the same bytes)."""
    return pa.DictionaryArray.from_arrays(_int_array(ranks, pa.int32()), _strings(sorted(symbols)))


def _int64s(column: pa.ChunkedArray) -> np.ndarray:
    """A never-null time column's values as int64 ms (through its buffer: `to_numpy()` imports pandas)."""
    if column.num_chunks == 0:
        return np.empty(0, np.int64)
    array = column.cast(pa.int64()).combine_chunks()
    return np.frombuffer(array.buffers()[1], np.int64, len(array), array.offset * 8)


def _int_array(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    data = np.ascontiguousarray(values, dtype=np.int32 if type_ == pa.int32() else np.int64)
    return pa.Array.from_buffers(type_, len(data), [None, pa.py_buffer(data)])


def _nullable(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """float64 values with NaN for None (records never hold NaN: RECORD_001) as an Arrow array."""
    missing = np.isnan(values)
    nulls = int(missing.sum())
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if nulls else None
    if type_ == pa.float64():
        data = values
    else:  # times: exact in float64 (ms below 2**53)
        data = np.where(missing, 0, values).astype(np.int64)
    return pa.Array.from_buffers(type_, len(values), [validity, pa.py_buffer(np.ascontiguousarray(data))],
                                 null_count=nulls)


def _strings(values: list[str]) -> pa.Array:
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets),
                                                             pa.py_buffer(b"".join(encoded))])
