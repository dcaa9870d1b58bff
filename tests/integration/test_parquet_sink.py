"""The Parquet archive sink against the real journal and real files: layout, schema, exactly-once
resumption, compaction and the ARCHIVE_001 faults."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from structlog.testing import capture_logs

from collector.sinks.parquet import layout
from collector.sinks.parquet.parts import read_metadata
from collector.config import ParquetConfig
from collector.journal import Journal, frames
from collector.journal.segments import segment_path
from collector.records import Ticker
from collector.sinks.parquet.sink import ArchiveWriter
from tests.support.archive import archive_files, expected_rows, rows_by_duckdb, rows_by_pyarrow
from tests.support.memory_sink import eventually
from tests.support.records import mixed_records

DAY1 = 1_764_547_200_000  # 2025-12-01T00:00:00Z


def config(root: Path, **values) -> ParquetConfig:
    return ParquetConfig(enabled=True, path=root, **{"roll_interval": 60.0, "compact_after": 0.0, **values})


async def archive(records, root: Path, spool: Path, **values) -> ArchiveWriter:
    """Journal `records`, archive them (flush) and stop; the stopped writer."""
    async with Journal(spool, max_bytes=2**30) as journal:
        async with ArchiveWriter(config(root, **values), journal) as writer:
            await journal.append(records)
            await writer.flush()
    return writer


async def test_archive_holds_every_record_once_readable_by_pyarrow_and_duckdb(tmp_path):
    records = mixed_records(3000) + mixed_records(200)  # a replayed stretch: identities again
    await archive(records, tmp_path / "archive", tmp_path / "spool")
    for kind in ("ticker", "funding_rate"):
        assert rows_by_pyarrow(tmp_path / "archive", kind) == expected_rows(records, kind)
        assert rows_by_duckdb(tmp_path / "archive", kind) == expected_rows(records, kind)


async def test_layout_schema_and_metadata_follow_the_contract(tmp_path):
    records = [Ticker("binance", f"S{i % 4}/USDT:USDT", DAY1 + 86_400_000 - 2 + i, DAY1 + i, last=float(i))
               for i in range(4)]  # two before midnight, two after
    await archive(records, tmp_path / "a", tmp_path / "spool")
    names = [str(p.relative_to(tmp_path / "a")) for p in archive_files(tmp_path / "a")]
    assert names == ["_archive_state.json",
                     "ticker/exchange=binance/date=2025-12-01/part-0-3.parquet",
                     "ticker/exchange=binance/date=2025-12-02/part-0-3.parquet"]
    part = tmp_path / "a/ticker/exchange=binance/date=2025-12-01/part-0-3.parquet"
    schema = pq.read_schema(part)
    assert schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("received_at").type == pa.timestamp("ms", tz="UTC")
    assert pa.types.is_dictionary(schema.field("symbol").type)
    assert "exchange" not in schema.names  # the partition directory carries it
    meta = read_metadata(part)
    assert (meta["journal_first"], meta["journal_last"], meta["records"]) == ("0", "3", "2")
    assert meta["collector_version"]


async def test_a_journal_written_before_a_record_type_gained_a_field_is_archived_with_it_empty(tmp_path):
    """Frames keep each record's values in order; one journaled by a version whose tickers ended
    before `open_interest` is archived beside today's frames, the missing field null."""
    old = [Ticker("okx", f"S{i % 3}/USDT:USDT", DAY1 + i, DAY1 + i, last=float(i)) for i in range(20)]
    new = [Ticker("okx", f"S{i % 3}/USDT:USDT", DAY1 + i, DAY1 + i, last=float(i), open_interest=5.0)
           for i in range(20, 30)]
    short_rows = [row[:-1] for row in frames.rows_of(old)]
    journal_dir = tmp_path / "spool" / "journal"
    journal_dir.mkdir(parents=True)
    segment_path(journal_dir, 0).write_bytes(frames.framed(orjson.dumps(short_rows), len(old), 0, DAY1))
    await archive(new, tmp_path / "a", tmp_path / "spool")
    assert rows_by_pyarrow(tmp_path / "a", "ticker") == expected_rows(old + new, "ticker")


async def test_rows_of_a_part_are_sorted_by_symbol_then_ts(tmp_path):
    records = [Ticker("okx", f"S{(7 * i) % 5}/USDT:USDT", DAY1 + (i * 37) % 101, DAY1, last=1.0)
               for i in range(100)]
    await archive(records, tmp_path / "a", tmp_path / "spool")
    (part,) = (tmp_path / "a/ticker").rglob("part-*.parquet")
    table = pq.read_table(part)
    keys = list(zip(table.column("symbol").to_pylist(), table.column("ts").to_pylist(), strict=True))
    assert keys == sorted(keys)


async def _parts_at_max_part_records(tmp_path: Path, *, live: bool) -> list[Path]:
    records = [Ticker("okx", "BTC/USDT:USDT", DAY1 + i, DAY1 + i, last=1.0) for i in range(25)]
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
        if not live:
            await journal.append(records)  # before the writer starts: it reads them from disk
        async with ArchiveWriter(config(tmp_path / "a", max_part_records=10), journal) as writer:
            if live:
                while not writer.following:
                    await asyncio.sleep(0.01)
                await journal.append(records)  # one offer of 25
            while journal.cursor("parquet") < 20:
                await asyncio.sleep(0.01)  # no flush: only the size closes parts
            assert journal.cursor("parquet") == 20  # the last 5 wait for the roll
            await writer.flush()
    return sorted((tmp_path / "a").rglob("part-*"), key=lambda p: int(p.name.split("-")[1]))


@pytest.mark.parametrize("live", [False, True], ids=["from_disk", "live"])
async def test_a_part_is_closed_at_max_part_records(tmp_path, live):
    parts = await _parts_at_max_part_records(tmp_path, live=live)
    assert [p.name for p in parts] == ["part-0-9.parquet", "part-10-19.parquet", "part-20-24.parquet"]
    # One journal frame (one offer) held all 25: each part still holds exactly its own range.
    assert [pq.read_table(p).num_rows for p in parts] == [10, 10, 5]
    assert [pq.read_table(p).column("ts").to_pylist()[0].timestamp() * 1000 - DAY1 for p in parts] == [0, 10, 20]


async def test_a_part_is_closed_once_roll_interval_passed(tmp_path):
    now = [1_800_000_000.0]
    records = [Ticker("okx", "BTC/USDT:USDT", DAY1 + i, DAY1 + i, last=1.0) for i in range(5)]
    async with Journal(tmp_path / "spool", max_bytes=2**30, clock=lambda: now[0]) as journal:
        async with ArchiveWriter(config(tmp_path / "a", roll_interval=600.0), journal,
                                 clock=lambda: now[0]) as writer:
            await journal.append(records)
            await asyncio.sleep(0.6)  # the writer looked: not due yet
            assert journal.cursor("parquet") == 0
            now[0] += 600.0
            writer.offer([], 5, b"")  # the next commit's offer finds the part due
            while journal.cursor("parquet") < 5:
                await asyncio.sleep(0.01)
    assert [p.name for p in (tmp_path / "a").rglob("part-*")] == ["part-0-4.parquet"]


async def test_restart_rewrites_a_pending_range_onto_the_same_names(tmp_path):
    """The state a kill -9 between rename and cursor leaves: the range pending, one of its
    parts in place, the other still a temporary file, the journal's cursor not moved."""
    root = tmp_path / "a"
    records = mixed_records(400)
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
        await journal.append(records)
    await archive([], root, tmp_path / "spool")  # writes part-0-399 everywhere
    first = sorted(root.rglob("part-*.parquet"))
    torn = first[0]
    layout.temporary(torn).write_bytes(b"half a file")
    torn.unlink()
    (root / layout.STATE).write_text(json.dumps({"next_seq": 0, "pending": [0, 399]}))
    ledger = tmp_path / "spool/journal/cursors.json"
    ledger.write_text(json.dumps({"parquet": 0}))
    await archive(mixed_records(10, start=400), root, tmp_path / "spool")
    assert sorted(root.rglob("part-0-399.parquet")) == first
    assert not list(root.rglob("*.tmp"))
    for kind in ("ticker", "funding_rate"):
        assert rows_by_pyarrow(root, kind) == expected_rows(records + mixed_records(10, start=400), kind)


async def test_restart_continues_after_a_range_the_journal_cursor_missed(tmp_path):
    """Killed after the archive's state moved but before the journal saved its cursor."""
    root = tmp_path / "a"
    records = mixed_records(300)
    await archive(records, root, tmp_path / "spool")
    (tmp_path / "spool/journal/cursors.json").write_text(json.dumps({"parquet": 0}))
    await archive(mixed_records(30, start=300), root, tmp_path / "spool")
    names = sorted({p.name for p in root.rglob("part-*.parquet")})
    assert names == ["part-0-299.parquet", "part-300-329.parquet"]


@pytest.mark.parametrize("bad", ["file", "read_only"])
async def test_a_bad_path_is_one_archive_001_line_and_the_records_wait(tmp_path, bad):
    if bad == "file":
        root = tmp_path / "archive"
        root.write_text("not a directory")
    else:
        root = Path("/sys/archive-test")  # a read-only file system, even for root
    records = mixed_records(50)
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
        with capture_logs() as logs:
            async with ArchiveWriter(config(root), journal, retry_delays=[0.05]) as writer:
                await journal.append(records)
                await writer.flush()  # returns: the archive is failing
                await asyncio.sleep(0.3)  # retried a few times meanwhile
                assert writer.status()["state"] == "down"
                assert journal.backlog("parquet") == 50
    failures = [e for e in logs if e.get("error_code") == "ARCHIVE_001"]
    assert len(failures) == 1, failures  # logged when it started, not on every retry
    assert str(root) in failures[0]["error"]
    assert "Traceback" not in str(failures[0])


async def test_a_finished_day_is_compacted_into_one_sorted_file_without_duplicates(tmp_path):
    root = tmp_path / "a"
    records = mixed_records(600)
    await archive(records[:300], root, tmp_path / "spool")
    await archive(records[250:], root, tmp_path / "spool", compact_after=1.0)  # overlaps by 50
    day_files = sorted(p.name for p in (root / "ticker/exchange=binance").rglob("*.parquet"))
    assert day_files == ["data.parquet"]
    data = pq.read_table(root / "ticker/exchange=binance" / next(
        p.name for p in (root / "ticker/exchange=binance").iterdir()) / "data.parquet")
    keys = list(zip(data.column("symbol").to_pylist(), data.column("ts").to_pylist(), strict=True))
    assert keys == sorted(set(keys))
    for kind in ("ticker", "funding_rate"):
        assert rows_by_pyarrow(root, kind) == expected_rows(records, kind)
    assert not (root / layout.STAGING).exists()


async def test_late_records_go_beside_data_parquet_and_merge_at_the_next_compaction(tmp_path):
    root = tmp_path / "a"
    records = mixed_records(300)
    await archive(records, root, tmp_path / "spool", compact_after=1.0)
    late = [Ticker("binance", "LATE/USDT:USDT", records[0].ts + 5, records[0].ts + 9, last=3.0)]
    await archive(late, root, tmp_path / "spool")  # compaction off: the late part stays beside
    (day,) = (root / "ticker/exchange=binance").iterdir()
    assert sorted(p.name for p in day.iterdir()) == ["data.parquet", "part-300-300.parquet"]
    assert rows_by_pyarrow(root, "ticker") == expected_rows(records + late, "ticker")
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
        async with ArchiveWriter(config(root, compact_after=1.0), journal):
            while (day / "part-300-300.parquet").exists():  # the start's sweep finds the day due
                await asyncio.sleep(0.01)
    assert sorted(p.name for p in day.iterdir()) == ["data.parquet"]
    assert rows_by_pyarrow(root, "ticker") == expected_rows(records + late, "ticker")
    assert read_metadata(day / "data.parquet")["journal_last"] == "300"


async def test_a_day_compacted_twice_is_unchanged(tmp_path):
    from collector.sinks.parquet.compaction import compact_day
    root = tmp_path / "a"
    await archive(mixed_records(300), root, tmp_path / "spool", compact_after=1.0)
    (day,) = (root / "ticker/exchange=okx").iterdir()
    before = pq.read_table(day / "data.parquet")
    compact_day(root, day, "zstd")
    after = pq.read_table(day / "data.parquet")
    assert after.equals(before)
    assert read_metadata(day / "data.parquet")["records"] == str(before.num_rows)


async def test_a_corrupt_part_stops_only_its_day_compaction_with_one_archive_001_line(tmp_path):
    root = tmp_path / "a"
    records = mixed_records(300)
    await archive(records, root, tmp_path / "spool")
    (day,) = (root / "ticker/exchange=bybit").iterdir()
    corrupt = day / "part-999-999.parquet"
    corrupt.write_bytes(b"PAR1 not really")
    untouched = {p: p.read_bytes() for p in day.iterdir()}
    with capture_logs() as logs:
        await archive(mixed_records(30, start=300), root, tmp_path / "spool", compact_after=1.0)
    assert {p: p.read_bytes() for p in day.iterdir() if p.name in {q.name for q in untouched}} == untouched
    failures = [e for e in logs if e.get("error_code") == "ARCHIVE_001"]
    assert len(failures) == 1 and str(corrupt) in failures[0]["path"]
    (other,) = (root / "ticker/exchange=okx").iterdir()
    assert sorted(p.name for p in other.iterdir()) == ["data.parquet"]  # the other days went on


def _mount_tmpfs(where: Path, size: str) -> None:
    import subprocess
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")


async def test_a_full_disk_is_one_archive_001_line_then_the_archive_catches_up(tmp_path):
    import shutil
    import subprocess
    disk = tmp_path / "small"
    _mount_tmpfs(disk, "1m")
    try:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (1024 * 1024 - 4096 * 4))  # leaves room for the directories only
        records = mixed_records(2000)
        async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
            with capture_logs() as logs:
                async with ArchiveWriter(config(disk / "archive"), journal, retry_delays=[0.05]) as writer:
                    await journal.append(records)
                    await writer.flush()
                    assert writer.status()["state"] == "down"
                    assert journal.backlog("parquet") == 2000
                    assert not list((disk / "archive").rglob("part-*"))  # no torn file visible
                    filler.unlink()
                    async with asyncio.timeout(30):
                        while journal.backlog("parquet"):
                            await asyncio.sleep(0.05)
                    assert writer.status()["state"] == "ok"
        failures = [e for e in logs if e.get("error_code") == "ARCHIVE_001"]
        assert len(failures) == 1 and "No space left on device" in failures[0]["error"]
        assert any(e["event"] == "archive_write_recovered" for e in logs)
        assert not list((disk / "archive").rglob("*.tmp"))  # each failed attempt removed its own
        for kind in ("ticker", "funding_rate"):
            assert rows_by_pyarrow(disk / "archive", kind) == expected_rows(records, kind)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)


async def test_a_full_disk_met_by_a_row_group_written_behind_fails_the_part_and_loses_nothing(tmp_path):
    """Full row groups are written on a thread of their own while the next chunk is decoded: a
    disk that fills meanwhile fails the whole part (no renamed file short of rows)."""
    import shutil
    import subprocess
    disk = tmp_path / "small"
    _mount_tmpfs(disk, "1m")
    try:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (1024 * 1024 - 4096 * 8))  # the directories and a few pages
        records = [Ticker("okx", f"S{i % 500}/USDT:USDT", DAY1 + i // 500 * 1000, DAY1 + i, last=i * 0.5,
                          bid=i * 0.25, ask=i * 0.75, open_interest=float(i)) for i in range(60_000)]
        async with Journal(tmp_path / "spool", max_bytes=2**30, frame_records=5000) as journal:
            with capture_logs() as logs:
                async with ArchiveWriter(config(disk / "archive"), journal, retry_delays=[0.05]) as writer:
                    for start in range(0, len(records), 5000):
                        await journal.append(records[start:start + 5000])
                    await writer.flush()
                    assert writer.status()["state"] == "down"
                    assert not list((disk / "archive").rglob("part-*"))  # no short part renamed
                    filler.unlink()
                    async with asyncio.timeout(60):
                        while journal.backlog("parquet"):
                            await asyncio.sleep(0.05)
        assert "No space left on device" in [e for e in logs if e.get("error_code") == "ARCHIVE_001"][0]["error"]
        assert not list((disk / "archive").rglob("*.tmp"))
        assert rows_by_pyarrow(disk / "archive", "ticker") == expected_rows(records, "ticker")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)


async def test_a_caught_up_writer_converts_live_records_without_reading_the_journal_back(tmp_path):
    from collector import metrics
    from collector.sinks.parquet.writer_process import UNANSWERED_ADDS

    def spooled() -> float:
        return metrics.REGISTRY.get_sample_value("collector_records_spooled_total", {"sink": "parquet"}) or 0.0

    before = spooled()
    records = mixed_records(3000)
    chunks = [records[start:start + 100] for start in range(0, 3000, 100)]
    blocked_at = (UNANSWERED_ADDS + 1) * 100  # the add that waits for the process to answer
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
        async with ArchiveWriter(config(tmp_path / "a"), journal) as writer:
            await eventually(lambda: writer.following and writer.writer_process_pid)
            os.kill(writer.writer_process_pid, signal.SIGSTOP)  # the adds wait for the process
            try:
                for chunk in chunks[:blocked_at // 100]:
                    await journal.append(chunk)
                await eventually(lambda: writer.taken_seq == blocked_at)
                for chunk in chunks[blocked_at // 100:]:
                    await journal.append(chunk)  # offered while an add waits
            finally:
                os.kill(writer.writer_process_pid, signal.SIGCONT)
            await writer.flush()
            assert writer.following
    assert spooled() == before
    assert rows_by_pyarrow(tmp_path / "a", "ticker") == expected_rows(records, "ticker")


async def test_a_full_journal_counts_nothing_the_archive_holds_and_exactly_what_a_failed_part_forgets(tmp_path):
    """`records_dropped` is what the archive will never get: the open part and the live offers are
    in memory and archived from there when the full journal deletes their segments; a part that
    then fails to be written is forgotten, and its records the journal no longer has are lost."""
    records = [Ticker("okx", f"S{i % 50}/USDT:USDT", DAY1 + i, DAY1 + i, last=float(i)) for i in range(6000)]
    small = {"max_bytes": 64 * 1024, "frame_records": 100, "segment_bytes": 16 * 1024}

    async with Journal(tmp_path / "spool", **small) as journal:
        async with ArchiveWriter(config(tmp_path / "held", roll_interval=3600.0), journal) as writer:
            await journal.append(records[:10])
            await writer.flush()
            await eventually(lambda: writer._offers.following)  # caught up: live offers from here on
            await journal.append(records[10:])
            assert journal.oldest_seq > 1000, "the journal was full and deleted its oldest segments"
            await writer.flush()
            assert journal.dropped("parquet") == 0
    assert len(rows_by_pyarrow(tmp_path / "held", "ticker")) == 6000

    async with Journal(tmp_path / "spool2", **small) as journal:
        async with ArchiveWriter(config(tmp_path / "lost", roll_interval=3600.0), journal,
                                 retry_delays=[0.05]) as writer:
            await journal.append(records[:10])
            await writer.flush()
            await eventually(lambda: writer._offers.following)
            pid = writer.writer_process_pid
            os.kill(pid, signal.SIGSTOP)  # the part's records wait in the daemon and the process
            await journal.append(records[10:])
            oldest = journal.oldest_seq
            os.kill(pid, signal.SIGKILL)  # the part fails: forgotten, its records read back from the journal
            await writer.flush()
            async with asyncio.timeout(60):  # the retry reads back what the journal still has
                while journal.cursor("parquet") < journal.end_seq:
                    await writer.flush()
                    await asyncio.sleep(0.05)
            dropped = journal.dropped("parquet")
    rows = rows_by_pyarrow(tmp_path / "lost", "ticker")
    assert 0 < dropped <= oldest - 10, "the forgotten part's records the journal no longer had"
    assert len(rows) + dropped == 6000 and len({row[:3] for row in rows}) == len(rows), \
        "every record is archived once or counted as dropped, never both, never neither"
