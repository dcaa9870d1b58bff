"""Write one journal range into part files: one per (kind, exchange, day) it touches.

Each part grows in a temporary file, a row group per `ROW_GROUP_ROWS` rows (chunks are held as
Arrow tables until then: bigger row groups compress better); `commit(last)` closes them, fsyncs
each, renames each to `part-<first>-<last>.parquet` and fsyncs the directories. The archive
writer process (process.py) calls it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

import collector
from collector.sinks.parquet import tables
from collector.sinks.parquet.layout import fsync_dir, make_dirs, part_name, partition, temporary

Opener = Callable[[Path], IO[bytes]]
ROW_GROUP_ROWS = 16_384  # rows held in memory per part before they are written


def open_for_writing(path: Path) -> IO[bytes]:
    return open(path, "wb")  # noqa: SIM115 (closed by PartFile.close)


def codec(compression: str) -> str | None:
    return None if compression == "none" else compression


def writer_options(kind: str, compression: str) -> dict[str, object]:
    """ParquetWriter options: times delta-encoded (consecutive ticks of a symbol differ by about
    the interval: half the bytes per ticker of dictionary-encoded times), the symbol a dictionary."""
    times = [name for name in ("ts", "received_at", "next_funding_time") if name in tables.file_columns(kind)]
    return {"compression": codec(compression), "use_dictionary": ["symbol"],
            "column_encoding": dict.fromkeys(times, "DELTA_BINARY_PACKED")}


def file_metadata(kind: str, exchange: str, first: int, last: int, records: int) -> dict[str, str]:
    """The key-value metadata every archive file carries."""
    return {"collector_version": collector.__version__, "kind": kind, "exchange": exchange,
            "journal_first": str(first), "journal_last": str(last), "records": str(records)}


@dataclass
class PartFile:
    path: Path
    file: IO[bytes]
    writer: pq.ParquetWriter
    kind: str
    rows: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    held: list[pa.Table] = field(default_factory=list)
    held_rows: int = 0

    def hold(self, table: pa.Table) -> bool:
        """Keep a chunk for the next row group; True once the row group is full."""
        self.held.append(table)
        self.held_rows += table.num_rows
        return self.held_rows >= ROW_GROUP_ROWS

    def take_held(self) -> list[pa.Table]:
        held, self.held, self.held_rows = self.held, [], 0
        return held

    def write(self, held: list[pa.Table]) -> None:
        """Chunks as one row group, sorted by (symbol, ts), one row per identity."""
        if not held:
            return
        table = tables.finish(held[0] if len(held) == 1 else pa.concat_tables(held).combine_chunks(), self.kind)
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.rows += table.num_rows

    def close(self) -> None:
        try:
            self.writer.add_key_value_metadata(self.metadata)
            self.writer.close()
            self.file.flush()
            os.fsync(self.file.fileno())
        finally:
            self.file.close()


class RangeWriter:
    """The part files of one journal range of an archive: from `first`, to the `last` given to
    `commit()` (the range closes when it is due, not when it opens).

    A full row group is sorted, encoded and compressed on a thread of its own while the next
    chunk is decoded (pyarrow and numpy let go of the GIL meanwhile): one row group in flight at
    most, its failure raised by the next `add` or by `commit`."""

    def __init__(self, root: Path, first: int, compression: str, opener: Opener = open_for_writing) -> None:
        self.root, self.first = root, first
        self._compression = compression
        self._opener = opener
        self._parts: dict[tables.PartitionKey, PartFile] = {}
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="parquet-row-group")
        self._writing: Future[None] | None = None

    def add(self, found: Sequence[tuple[tables.PartitionKey, pa.Table]]) -> None:
        """Append a chunk of the range (its tables per partition, in journal order: `tables.tables_of`,
        `decode.tables_of_frames`) to each partition's part."""
        for key, table in found:
            part = self._parts.get(key) or self._open(key)
            if part.hold(table):
                held = part.take_held()
                self._wait()
                self._writing = self._thread.submit(part.write, held)

    def commit(self, last: int) -> list[Path]:
        """Close, fsync and rename every part into place as `part-<first>-<last>`; the paths."""
        self._wait()
        self._thread.shutdown()
        for (kind, exchange, _), part in self._parts.items():
            part.write(part.take_held())
            part.metadata = file_metadata(kind, exchange, self.first, last, part.rows)
            part.close()
        done = []
        for part in self._parts.values():
            final = part.path.with_name(part_name(self.first, last))
            os.replace(part.path, final)
            done.append(final)
        for directory in {path.parent for path in done}:
            fsync_dir(directory)
        return done

    def abort(self) -> None:
        """Close and delete the temporary files (after a failure); never raises."""
        self._thread.shutdown()  # a row group in flight is written (or fails) first
        for part in self._parts.values():
            try:
                part.writer.close()
            except Exception:  # noqa: BLE001, S110 (the file goes anyway; the first error is reported)
                pass
            part.file.close()
            part.path.unlink(missing_ok=True)
        self._parts.clear()

    def _wait(self) -> None:
        """The row group in flight written; its failure raised."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    @property
    def rows_written(self) -> int:
        """Rows in the part files (after `commit()`: all of them)."""
        return sum(part.rows for part in self._parts.values())

    def _open(self, key: tables.PartitionKey) -> PartFile:
        kind, exchange, day = key
        directory = partition(self.root, kind, exchange, day)
        make_dirs(directory)
        path = temporary(directory / f"part-{self.first}.parquet")
        file = self._opener(path)
        try:
            writer = pq.ParquetWriter(file, tables.SCHEMAS[kind], **writer_options(kind, self._compression))
        except BaseException:
            file.close()
            raise
        self._parts[key] = part = PartFile(path, file, writer, kind)
        return part


def read_metadata(path: Path) -> dict[str, Any]:
    """An archive file's key-value metadata, decoded."""
    raw = pq.read_metadata(path).metadata or {}
    return {key.decode(): value.decode() for key, value in raw.items() if not key.startswith(b"ARROW")}
