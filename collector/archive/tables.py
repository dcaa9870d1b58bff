"""Records to Arrow tables: the archive's schema, partitions, order and deduplication.

Columns and names are the SQL tables' (`records.columns(kind)`) except `exchange`, which the
`exchange=` directory carries (Hive style: Spark, DuckDB and polars add it back from the path,
and a column in both places makes some readers refuse the file). Times are
`timestamp[ms, tz=UTC]`, `symbol` is dictionary-encoded, rows are sorted by `(symbol, ts)`.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from collector.archive.layout import day_of
from collector.records import KINDS, Record, columns

TIME: Final = pa.timestamp("ms", tz="UTC")
_TIME_COLUMNS: Final = frozenset({"ts", "received_at", "next_funding_time"})
_DAY_MS: Final = 86_400_000
SORT_KEYS: Final = [("symbol", "ascending"), ("ts", "ascending")]
PartitionKey = tuple[str, str, str]  # kind, exchange, day


def file_columns(kind: str) -> tuple[str, ...]:
    return tuple(name for name in columns(kind) if name != "exchange")


def _type_of(name: str) -> pa.DataType:
    if name == "symbol":
        return pa.dictionary(pa.int32(), pa.string())
    return TIME if name in _TIME_COLUMNS else pa.float64()


SCHEMAS: Final = {kind: pa.schema([pa.field(name, _type_of(name), nullable=name not in ("symbol", "ts"))
                                   for name in file_columns(kind)]) for kind in KINDS}
_GETTERS: Final = {kind: [operator.attrgetter(name) for name in file_columns(kind)] for kind in KINDS}


def split(records: Iterable[Record]) -> dict[PartitionKey, list[Record]]:
    """The records of each (kind, exchange, UTC day of ts), in journal order."""
    groups: dict[PartitionKey, list[Record]] = {}
    days: dict[int, str] = {}
    for record in records:
        day_number = record.ts // _DAY_MS
        day = days.get(day_number) or days.setdefault(day_number, day_of(record.ts))
        key = (record.kind, record.exchange, day)
        group = groups.get(key)
        if group is None:
            groups[key] = group = []
        group.append(record)
    return groups


def to_table(kind: str, records: Sequence[Record]) -> pa.Table:
    """One partition's records as a table, sorted by (symbol, ts), one row per identity."""
    arrays = []
    for name, getter in zip(file_columns(kind), _GETTERS[kind], strict=True):
        values = [getter(record) for record in records]
        if name == "symbol":
            arrays.append(pa.array(values, pa.string()))
        elif name in _TIME_COLUMNS:
            arrays.append(pa.array(values, pa.int64()).cast(TIME))
        else:
            arrays.append(pa.array(values, pa.float64()))
    table = pa.Table.from_arrays(arrays, names=list(file_columns(kind)))
    return finish(table, kind)


def finish(table: pa.Table, kind: str) -> pa.Table:
    """Keep the first row of each (symbol, ts), sort by it, and give it the archive's schema."""
    table = _plain_symbol(table)  # Arrow sorts no dictionary column, and chunks' dictionaries differ
    table = first_of_each_identity(table)
    table = table.take(pc.sort_indices(table, sort_keys=SORT_KEYS))
    return table.select(list(file_columns(kind))).cast(SCHEMAS[kind])


def first_of_each_identity(table: pa.Table) -> pa.Table:
    """Rows in their order, without any later row whose (symbol, ts) came before."""
    if table.num_rows < 2:
        return table
    keyed = pa.table({"symbol": table.column("symbol"), "ts": table.column("ts"),
                      "row": pa.array(range(table.num_rows), pa.int64())})
    first = keyed.group_by(["symbol", "ts"], use_threads=False).aggregate([("row", "min")])
    if first.num_rows == table.num_rows:
        return table
    return table.take(first.column("row_min"))  # in any order: `finish` sorts them next


def _plain_symbol(table: pa.Table) -> pa.Table:
    symbol = table.column("symbol")
    if not pa.types.is_dictionary(symbol.type):
        return table
    return table.set_column(table.schema.get_field_index("symbol"), "symbol", symbol.cast(pa.string()))
