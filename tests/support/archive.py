"""Reading a Parquet archive back in tests: every row as the SQL sinks' tuples, and its files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds

from collector.records import KINDS, TABLES, Record, as_row, columns


def rows_by_pyarrow(root: Path, kind: str) -> list[tuple]:
    """Every row of a kind as `records.as_row` tuples (times as UTC ms), in key order."""
    directory = root / kind
    if not directory.exists():
        return []
    table = ds.dataset(directory, format="parquet", partitioning="hive").to_table()
    data = table.to_pydict()
    out = []
    for i in range(table.num_rows):
        row = []
        for name in columns(kind):
            value = data[name][i]
            if hasattr(value, "timestamp"):
                value = round(value.timestamp() * 1000)
            row.append(value)
        out.append(tuple(row))
    return sorted(out, key=_key)


def rows_by_duckdb(root: Path, kind: str) -> list[tuple]:
    import duckdb
    names = ", ".join(f"epoch_ms({n})" if n in ("ts", "received_at", "next_funding_time") else n
                      for n in columns(kind))
    glob = str(root / kind / "**" / "*.parquet")
    with duckdb.connect() as connection:
        found = connection.execute(
            f"SELECT {names} FROM read_parquet(?, hive_partitioning=true)", [glob]).fetchall()
    return sorted(found, key=_key)


def expected_rows(records: list[Record], kind: str) -> list[tuple]:
    """One row per identity (the first), as an idempotent sink holds them."""
    seen: dict[tuple, tuple] = {}
    for record in records:
        if record.kind == kind:
            seen.setdefault((record.exchange, record.symbol, record.ts), as_row(record))
    return sorted(seen.values(), key=_key)


def sqlite_rows(path: Path, kind: str) -> list[tuple]:
    import sqlite3
    from contextlib import closing
    with closing(sqlite3.connect(path)) as connection:
        found = connection.execute(f"SELECT {', '.join(columns(kind))} FROM {TABLES[kind]}").fetchall()
    return sorted(found, key=_key)


def archive_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def all_kinds() -> tuple[str, ...]:
    return KINDS


def _key(row: tuple) -> tuple:
    return (row[0], row[1], row[2])
