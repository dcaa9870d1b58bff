"""Journal frames to Arrow tables in the archive writer process, without Python objects per value.

A frame's payload is JSON, one array per record (frames.py), whose only strings are the kind,
the exchange and the symbol; orjson writes them without escapes unless one holds a quote, a
backslash or a control character. Such a payload is CSV text once its outer brackets go and
each `],[` between two records becomes a line break:

    "ticker","okx","BTC/USDT:USDT",1764547200000,1764547200007,97000.5,null,...

and pyarrow's CSV reader turns it into typed columns in C++, about twice as fast as orjson's
Python objects and their conversion to columns. Everything else — an escape in a string, frames
of different kinds in one request, an older and shorter record layout, a number not of the
layout's type — goes the way of orjson (`tables.tables_of`), which reads any payload. Both ways
give the same tables.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa
import pyarrow.csv as csv

from collector.journal import frames
from collector.records import KINDS, columns
from collector.sinks.parquet import tables

_READ: Final = csv.ReadOptions(autogenerate_column_names=True, use_threads=False, block_size=1 << 30)
_INTEGERS: Final = frozenset({"ts", "received_at", "next_funding_time"})


def _convert(kind: str) -> csv.ConvertOptions:
    types = {"f0": pa.dictionary(pa.int32(), pa.string()), "f1": pa.dictionary(pa.int32(), pa.string()),
             "f2": pa.dictionary(pa.int32(), pa.string())}
    for at, name in enumerate(columns(kind)[2:], start=3):
        types[f"f{at}"] = pa.int64() if name in _INTEGERS else pa.float64()
    return csv.ConvertOptions(column_types=types, null_values=["null"], strings_can_be_null=False,
                              quoted_strings_can_be_null=False)


_CONVERT: Final = {kind: _convert(kind) for kind in KINDS}
_KIND_AT: Final = {f'[["{kind}",'.encode(): kind for kind in KINDS}


def tables_of_frames(body: bytes, start: int, end: int) -> list[tuple[tables.PartitionKey, pa.Table]]:
    """`tables.tables_of` the records `start ..< end` of the frames in `body` (frames.rows_between)."""
    parsed = _as_csv(body, start, end)
    if parsed is None:
        return tables.tables_of(frames.rows_between(body, start, end))
    kind, table = parsed
    return tables.tables_of_table(kind, table) if table.num_rows else []


def _as_csv(body: bytes, start: int, end: int) -> tuple[str, pa.Table] | None:
    """The records' columns read as CSV; None when a payload is not of the plain form."""
    texts: list[bytes] = []
    pieces: list[tuple[int, int]] = []  # (row, rows) of the range in the text's rows
    kind, rows, cut = KINDS[0], 0, False
    for first_seq, count, payload in frames.payloads(body):
        low, high = max(0, start - first_seq), min(count, end - first_seq)
        if high <= low:
            continue
        plain = _plain(bytes(payload), count)
        if plain is None or (texts and plain[0] != kind):
            return None
        kind = plain[0]
        texts.append(plain[1])
        pieces.append((rows + low, high - low))
        cut = cut or high - low < count
        rows += count
    if not texts:
        return kind, pa.table({})
    try:
        table = csv.read_csv(pa.py_buffer(b"\n".join(texts)), read_options=_READ, convert_options=_CONVERT[kind])
    except pa.ArrowInvalid:  # a number of another type, or a row of another width
        return None
    names = ["kind", *columns(kind)]
    if table.num_rows != rows or table.num_columns != len(names) or table.column("f0").unique().to_pylist() != [kind]:
        return None  # the rows were of another layout (a shorter one: an older journal's), or of two kinds
    if cut:
        table = pa.concat_tables([table.slice(row, count) for row, count in pieces])
    return kind, table.rename_columns(names)


def _plain(payload: bytes, count: int) -> tuple[str, bytes] | None:
    """The payload's kind and CSV text, if it is one kind's records with unescaped strings."""
    kind = _KIND_AT.get(payload[:payload.find(b",") + 1])
    if kind is None or b"\\" in payload or not payload.endswith(b"]]") or payload.count(b"],[") != count - 1:
        return None
    return kind, payload[2:-2].replace(b"],[", b"\n")
