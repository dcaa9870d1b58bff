"""Merge a day partition's files into one `data.parquet`, swapped in whole.

The day's `data.parquet` (if any) and its parts are read, concatenated in that order, kept one
row per identity (the first: what was archived before wins), sorted by `(symbol, ts)` and
written to `<path>/_staging/...`; that directory then replaces the day's in one rename
(layout.swap_dirs), and the old one is deleted. A reader sees the day before or after, never
twice or half; a crash leaves only the staging area, which the next start removes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from collector.sinks.parquet import tables
from collector.sinks.parquet.layout import (COMPACTED, STAGING, day_end, days, fsync_dir, make_dirs, part_range, parts_of,
                                            swap_dirs)
from collector.sinks.parquet.parts import file_metadata, writer_options

ROW_GROUP_ROWS = 1_000_000


class CorruptFile(Exception):
    """An archive file that cannot be read; `path` names it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def needs_compaction(day_dir: Path) -> bool:
    return bool(parts_of(day_dir))


def due_days(root: Path, ended_before: float) -> list[Path]:
    """Day partitions with parts whose UTC day ended before `ended_before` (epoch seconds)."""
    return [day_dir for day, day_dir in days(root) if day_end(day) <= ended_before and needs_compaction(day_dir)]


def compact_due(root: Path, ended_before: float, compression: str) -> dict[str, list[list[Any]]]:
    """Compact every due day: `compacted` [day directory, rows], and `corrupt` [file, error] for
    the days left as they are (a file cannot be read). OSError when the disk refuses."""
    compacted: list[list[Any]] = []
    corrupt: list[list[Any]] = []
    for day_dir in due_days(root, ended_before):
        try:
            compacted.append([str(day_dir), compact_day(root, day_dir, compression)])
        except CorruptFile as err:
            corrupt.append([str(err.path), str(err)])
    return {"compacted": compacted, "corrupt": corrupt}


def compact_day(root: Path, day_dir: Path, compression: str) -> int:
    """Compact one day partition; the rows of its new `data.parquet`. Raises CorruptFile (and
    touches nothing) when one of its files cannot be read, OSError when the disk refuses."""
    kind = day_dir.relative_to(root).parts[0]
    exchange = day_dir.parent.name.removeprefix("exchange=")
    sources = ([day_dir / COMPACTED] if (day_dir / COMPACTED).exists() else []) + parts_of(day_dir)
    table = tables.finish(pa.concat_tables([_read(path, kind) for path in sources],
                                           promote_options="default"), kind)
    first, last = _journal_bounds(sources)
    staged = root / STAGING / day_dir.relative_to(root)
    if staged.exists():
        shutil.rmtree(staged)
    make_dirs(staged)
    _write(staged / COMPACTED, table, writer_options(kind, compression),
           file_metadata(kind, exchange, first, last, table.num_rows))
    fsync_dir(staged)
    swap_dirs(staged, day_dir)
    fsync_dir(day_dir.parent)
    shutil.rmtree(root / STAGING)  # the old day, now in the staging area (one compaction at a time)
    return table.num_rows


def _read(path: Path, kind: str) -> pa.Table:
    try:
        table = pq.read_table(path, partitioning=None)
    except (pa.ArrowException, OSError) as err:
        raise CorruptFile(path, " ".join(str(err).split())[:200]) from err
    # Parts written by an older version may lack newer columns: add them empty.
    for field in tables.SCHEMAS[kind]:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    return table.select(list(tables.file_columns(kind)))


def _journal_bounds(sources: list[Path]) -> tuple[int, int]:
    ranges = [rng for path in sources if (rng := part_range(path.name))]
    if COMPACTED in (path.name for path in sources):
        meta = pq.read_metadata(sources[0]).metadata or {}
        first, last = meta.get(b"journal_first"), meta.get(b"journal_last")
        if first is not None and last is not None:
            ranges.append((int(first), int(last)))
    return (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else (0, 0)


def _write(path: Path, table: pa.Table, options: dict[str, object], metadata: dict[str, str]) -> None:
    with open(path, "wb") as file:
        with pq.ParquetWriter(file, table.schema, **options) as writer:
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            writer.add_key_value_metadata(metadata)
        file.flush()
        os.fsync(file.fileno())
