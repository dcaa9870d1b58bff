"""The Parquet archive sink through the journal: `python -m benchmarks.sinks --only parquet`.

N ticker records (3 exchanges x 500 symbols, one tick a second, built before the clock starts)
are appended to a fresh journal (group commit, fsync; at most 50,000 records ahead of the
writer, as the other sinks' run is fed) while the archive writer runs with the
`parquet:` defaults (zstd, `max_part_records` 1,000,000); the clock stops once the writer has
archived them all (the stop's flush writes the last part). Figures: records/s through the
journal (append + archive), the archive's own rate (the same records read back from the journal
and written), the peak RSS the run added (this process) and the archive writer process's peak
RSS, and disk bytes per ticker in the archive beside the
SQLite sink's file for the same records (WAL checkpointed). Targets: >= 300,000 records/s, and
at most 1/5 of SQLite's bytes per ticker.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from benchmarks.sink_fixtures import DATABASE, MAX_QUEUED, Footprint, load_average, tickers
from collector.config import ParquetConfig, SQLiteConfig
from collector.journal import Journal
from collector.sinks.parquet.sink import ArchiveWriter
from collector.sinks.sqlite import SQLiteSink

TARGET = 300_000
BYTES_RATIO = 5


async def through_journal(count: int, workdir: Path) -> tuple[float, Footprint, Path]:
    chunks = list(tickers(count))
    root = workdir / "archive"
    config = ParquetConfig(enabled=True, path=root, compact_after=0.0)
    async with Journal(workdir / "spool", max_bytes=2**40, frame_records=10_000) as journal:
        # The read-ahead bound the other sinks' run gets (through_writers: queue_max_size).
        writer = ArchiveWriter(config, journal, stop_timeout=600.0, queue_max=MAX_QUEUED * 4)
        await writer.__aenter__()
        while not writer.following:
            await asyncio.sleep(0.01)  # caught up before the clock starts, as the other sinks are
        async with Footprint() as footprint:
            started, cpu = time.perf_counter(), time.process_time()
            for chunk in chunks:
                # As through_writers does for the other sinks: the collector's pace, not a
                # backlog of a million (then the archive reads it back from disk instead).
                while journal.end_seq - writer.taken_seq > MAX_QUEUED:
                    await asyncio.sleep(0.002)
                await journal.append(chunk)
            await writer.stop()  # writes everything journaled
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    # CPU seconds (every thread of this process) per record: a figure a busy machine bends less.
    footprint.cpu_per_record = cpu / count
    return count / elapsed, footprint, root


async def archive_alone(count: int, workdir: Path) -> float:
    """The archive's rate on records already journaled: the journal read back and written."""
    chunks = list(tickers(count, offset=count))
    config = ParquetConfig(enabled=True, path=workdir / "archive-alone", compact_after=0.0)
    async with Journal(workdir / "spool-alone", max_bytes=2**40, frame_records=10_000) as journal:
        for chunk in chunks:
            await journal.append(chunk)
        writer = ArchiveWriter(config, journal, stop_timeout=600.0)
        await writer.__aenter__()
        started = time.perf_counter()
        await writer.stop()
        return count / (time.perf_counter() - started)


async def sqlite_bytes(count: int, workdir: Path) -> int:
    path = workdir / "same.db"
    sink = SQLiteSink(SQLiteConfig(enabled=True, path=path), DATABASE)
    async with sink:
        for chunk in tickers(count):
            await sink.write(chunk)
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in workdir.glob("same.db*"))


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


async def run(count: int, workdir: Path) -> None:
    print(f"{count:,} ticker records, parquet defaults (zstd); {load_average()}")
    rate, footprint, root = await through_journal(count, workdir)
    alone = await archive_alone(count, workdir)
    parquet_per = disk_bytes(root) / count
    sqlite_per = await sqlite_bytes(count, workdir) / count
    files = len(list(root.rglob("*.parquet")))
    verdict = "ok" if rate >= TARGET else "BELOW TARGET"
    size_verdict = "ok" if parquet_per * BYTES_RATIO <= sqlite_per else "ABOVE TARGET"
    print(f"{'parquet':<11} {rate:>10,.0f} records/s through the journal (append + archive)  "
          f"archive alone {alone:>9,.0f}/s  CPU {footprint.cpu_per_record * 1e6:.2f} µs/record  "
          f"peak RSS {footprint.peak_mb:>5.0f} MB (run +{footprint.growth_mb:>4.0f}; "
          f"writer process {footprint.children_peak_mb:.0f} MB)  "
          f"target {TARGET:,}/s {verdict}")
    print(f"{'disk':<11} {parquet_per:>8.1f} B/ticker in {files} files  sqlite {sqlite_per:>7.1f} B/ticker  "
          f"ratio 1/{sqlite_per / parquet_per:.1f}  target <= 1/{BYTES_RATIO} {size_verdict}")
    print(f"done; {load_average()}")


def main(count: int) -> None:
    import tempfile
    with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
        asyncio.run(run(count, Path(tmp)))
