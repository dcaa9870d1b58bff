"""Records to Arrow tables: the archive's schema, partitions, order and deduplication.

Columns and names are the SQL tables' (`records.columns(kind)`) except `exchange`, which the
`exchange=` directory carries (Hive style: Spark, DuckDB and polars add it back from the path,
and a column in both places makes some readers refuse the file). Times are
`timestamp[ms, tz=UTC]`, `symbol` is dictionary-encoded, rows are sorted by `(symbol, ts)`.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
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
Row = Sequence[Any]  # a record as the journal's frames hold it (frames.rows_of)
# Where each file column stands in a row: `[kind, *values in records.columns(kind)]`.
_AT: Final = {kind: {name: 1 + i for i, name in enumerate(columns(kind))} for kind in KINDS}
_WIDTH: Final = {kind: 1 + len(columns(kind)) for kind in KINDS}
_NUMBERS: Final = {kind: tuple(name for name in file_columns(kind) if name not in ("symbol", "ts")) for kind in KINDS}
_KIND: Final = operator.itemgetter(0)


@dataclass(frozen=True, slots=True)
class _Columns:
    """One kind's rows, column by column: what each partition's table is cut from."""

    kind: str
    exchange_codes: np.ndarray  # each row's exchange, as an index into `exchanges`
    exchanges: list[str]
    symbols: list[str]  # the distinct symbols, first seen first
    codes: np.ndarray  # each row's symbol, as an index into `symbols`
    ts: np.ndarray
    numbers: dict[str, np.ndarray]  # float64, NaN for None (times too: exact below 2**53 ms)


def tables_of(rows: Sequence[Row]) -> list[tuple[PartitionKey, pa.Table]]:
    """A table per (kind, exchange, UTC day of ts) the rows touch, each sorted by (symbol, ts),
    one row per identity (the first in journal order).

    Built column by column through numpy buffers, never a Python object per row: the rows are
    transposed once, each column becomes one numpy array, and partitions are cut from those.
    (`pa.array(list)` would import pandas, ~60 MB of RSS, wherever it is installed.)"""
    found = []
    for kind, of_kind in _by_kind(rows):
        values = _columns(kind, of_kind)
        for exchange, day, index in partitions(values.exchange_codes, values.exchanges, values.ts):
            found.append(((kind, exchange, day), _table(values, index)))
    return found


def tables_of_table(kind: str, table: pa.Table) -> list[tuple[PartitionKey, pa.Table]]:
    """`tables_of` for rows of one kind already in Arrow columns named as `records.columns(kind)`
    (times as int64 ms, `symbol` a dictionary), but in journal order, duplicates kept: the part
    sorts and deduplicates each row group once (`finish`), not each chunk of it too."""
    codes, exchanges = _encode_column(table.column("exchange"))
    table = table.select(list(file_columns(kind))).cast(SCHEMAS[kind])
    found = []
    for exchange, day, index in partitions(codes, exchanges, _int64s(table.column("ts"))):
        part = table if index is None else table.take(_int_array(index, pa.int64()))
        found.append(((kind, exchange, day), part))
    return found


def _by_kind(rows: Sequence[Row]) -> list[tuple[str, Sequence[Row]]]:
    kinds = dict.fromkeys(map(_KIND, rows))
    if len(kinds) <= 1:
        return [(kind, rows) for kind in kinds]
    groups: dict[str, list[Row]] = {kind: [] for kind in kinds}
    for row in rows:
        groups[row[0]].append(row)
    return list(groups.items())


def _columns(kind: str, rows: Sequence[Row]) -> _Columns:
    width = _WIDTH[kind]
    if min(map(len, rows)) < width:  # a frame journaled before the record type gained fields
        rows = [[*row, *(None,) * (width - len(row))] for row in rows]
    at = _AT[kind]
    values_of = list(zip(*rows, strict=False))
    codes, symbols = _encode(values_of[at["symbol"]])
    return _Columns(kind, *_encode(values_of[at["exchange"]]), symbols, codes,
                    np.array(values_of[at["ts"]], np.int64),
                    {name: np.array(values_of[at[name]], np.float64) for name in _NUMBERS[kind]})


def partitions(codes: np.ndarray, names: list[str], ts: np.ndarray) -> list[tuple[str, str, np.ndarray | None]]:
    """(exchange, day, the row numbers of it) for each partition of rows whose exchanges are
    `names[codes]`, in order of exchange code, then day; None for every row (the usual chunk:
    one exchange's poll of one day)."""
    if not len(ts):
        return []
    days = ts // _DAY_MS
    low, high = int(days.min()), int(days.max())
    if low == high and codes.min() == codes.max():
        return [(names[codes[0]], day_of(low * _DAY_MS), None)]
    span = high - low + 1
    keys = codes.astype(np.int64) * span + (days - low)
    order = np.argsort(keys, kind="stable")  # rows keep their journal order within a partition
    starts = np.flatnonzero(np.diff(keys[order])) + 1
    found = []
    for index in np.split(order, starts):
        key = int(keys[index[0]])
        found.append((names[key // span], day_of((low + key % span) * _DAY_MS), index))
    return found


def _table(values: _Columns, index: np.ndarray | None) -> pa.Table:
    """The rows at `index` (all for None) as a table, sorted by (symbol, ts), one row per identity."""
    codes, symbols, ts = values.codes, values.symbols, values.ts
    if index is not None:
        codes, ts = codes[index], ts[index]
        codes, symbols = _only_present(codes, symbols)
    ranks = _rank(symbols)[codes]
    keep = _first_of_each_sorted(ranks, ts)
    rows = keep if index is None else index[keep]
    arrays = []
    for name in file_columns(values.kind):
        if name == "symbol":
            arrays.append(_symbols(ranks[keep], symbols))
        elif name == "ts":
            arrays.append(_int_array(ts[keep], TIME))
        else:  # None became NaN, now a null
            arrays.append(_nullable(values.numbers[name][rows], TIME if name in _TIME_COLUMNS else pa.float64()))
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[values.kind])


def _only_present(codes: np.ndarray, symbols: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes into the symbols present only (a partition's file names no symbol it lacks)."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(symbols)))
    if len(present) == len(symbols):
        return codes, symbols
    renumbered = np.zeros(len(symbols), np.int32)
    renumbered[present] = np.arange(len(present), dtype=np.int32)
    return renumbered[codes], [symbols[i] for i in present]


def finish(table: pa.Table, kind: str) -> pa.Table:
    """Keep the first row of each (symbol, ts), sort by it, and give it the archive's schema."""
    codes, symbols = _only_present(*_encode_column(table.column("symbol")))
    ts = _int64s(table.column("ts"))
    ranks = _rank(symbols)[codes]
    keep = _first_of_each_sorted(ranks, ts)
    table = table.take(_int_array(keep, pa.int64()))
    table = table.set_column(table.schema.get_field_index("symbol"), "symbol", _symbols(ranks[keep], symbols))
    return table.select(list(file_columns(kind))).cast(SCHEMAS[kind])


def _encode(symbols: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (int32) and the distinct values, in first-seen order."""
    index = {symbol: code for code, symbol in enumerate(dict.fromkeys(symbols))}
    return np.fromiter(map(index.__getitem__, symbols), np.int32, len(symbols)), list(index)


def _encode_column(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """`_encode` of a column; dictionary chunks through their (small) dictionaries, in numpy."""
    if not pa.types.is_dictionary(column.type):
        return _encode(column.to_pylist())
    index: dict[str, int] = {}
    parts = []
    for chunk in column.chunks:
        mapping = np.array([index.setdefault(v, len(index)) for v in chunk.dictionary.to_pylist()], np.int32)
        indices = chunk.indices.cast(pa.int32())
        local = np.frombuffer(indices.buffers()[1], np.int32, len(indices), indices.offset * 4)
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
