"""The journal: durable appends with group commit, per-sink cursors, segments deleted only once
every configured sink passed them, repair of torn and corrupt files, the disk bound, and the
import of the previous version's per-sink spool."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from collector import metrics
from collector.errors import CollectorError, ErrorCode
from collector.journal import Journal
from collector.journal.frames import HEADER, rows_between, rows_of
from collector.records import FundingSettlement, columns, identity
from tests.support.records import mixed_records

HOUR_0 = 1_767_225_600_000  # 2026-01-01T00:00Z


class Collect:
    """A reader that takes nothing live, so every test reads from disk."""

    def offer(self, records, first_seq, frame) -> None:
        pass

    def held_until(self) -> int:
        return 0  # holds nothing


async def read_all(journal: Journal, name: str, seq: int | None = None, batch: int = 97) -> list:
    seq = journal.cursor(name) if seq is None else seq
    records = []
    while True:
        read = await journal.read(name, seq, batch)
        if read.end_seq == read.first_seq:
            return records
        records.extend(read.records)
        seq = read.end_seq


def segment_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "journal").glob("*.jnl"))


async def test_records_come_back_equal_and_in_order_after_a_reopen(tmp_path):
    records = mixed_records(1000)
    async with Journal(tmp_path, max_bytes=2**30, frame_records=100) as journal:
        journal.attach("sqlite", Collect())
        for start in range(0, 1000, 250):
            await journal.append(records[start:start + 250])
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        assert journal.attach("sqlite", Collect()) == 0
        assert await read_all(journal, "sqlite") == records, "floats bit-exact, None kept, order kept"


async def test_what_was_appended_survives_a_crash_without_close(tmp_path):
    crashed = Journal(tmp_path, max_bytes=2**30)
    await crashed.open()
    crashed.attach("postgres", Collect())
    await crashed.append(mixed_records(300))  # returned: it is on disk; no close(), like kill -9
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        journal.attach("postgres", Collect())
        assert await read_all(journal, "postgres") == mixed_records(300)


async def test_a_cursor_survives_a_reopen_and_the_sink_starts_after_what_it_confirmed(tmp_path):
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        journal.attach("rabbitmq", Collect())
        end = await journal.append(mixed_records(500))
        journal.commit("rabbitmq", 200)
        assert end == 500
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        assert journal.attach("rabbitmq", Collect()) == 200
        assert await read_all(journal, "rabbitmq") == mixed_records(500)[200:]
        assert journal.backlog("rabbitmq") == 300


async def test_a_segment_is_deleted_only_once_every_sink_passed_it(tmp_path):
    async with Journal(tmp_path, max_bytes=2**30, frame_records=50, segment_bytes=8192) as journal:
        journal.attach("fast", Collect())
        journal.attach("slow", Collect())
        records, end = mixed_records(2000), 0
        for start in range(0, 2000, 50):
            end = await journal.append(records[start:start + 50])
        assert len(segment_files(tmp_path)) > 5
        journal.commit("fast", end)
        await asyncio.sleep(0.5)
        assert len(segment_files(tmp_path)) > 5, "slow still needs them"
        journal.commit("slow", 1000)
        await asyncio.sleep(0.5)
        assert journal.oldest_seq <= 1000, "the segment holding 1000 stays"
        assert await read_all(journal, "slow") == records[1000:]
        journal.commit("slow", end)
        await asyncio.sleep(0.5)
        assert len(segment_files(tmp_path)) == 1, "only the segment being written is kept"


async def test_concurrent_appends_share_one_fsync(tmp_path):
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        journal.attach("sqlite", Collect())
        records = mixed_records(500)
        await asyncio.gather(*(journal.append(records[i * 10:i * 10 + 10]) for i in range(50)))
        assert journal.fsyncs < 50, "group commit: appends that wait together are written together"
        assert await read_all(journal, "sqlite") == records


async def test_a_torn_tail_is_cut_once_with_a_warning_naming_the_file(tmp_path):
    async with Journal(tmp_path, max_bytes=2**30, frame_records=100) as journal:
        journal.attach("sqlite", Collect())
        await journal.append(mixed_records(300))
    (path,) = segment_files(tmp_path)
    whole = path.stat().st_size
    with path.open("ab") as file:
        file.write(HEADER.pack(b"\xf5JNL", 5000, 10, 300, 0, 0) + b"[[\"ticker\"")  # a write cut short
    with capture_logs() as logs:
        async with Journal(tmp_path, max_bytes=2**30) as journal:
            journal.attach("sqlite", Collect())
            assert await read_all(journal, "sqlite") == mixed_records(300)
            await journal.append(mixed_records(305)[300:])
    (warning,) = [e for e in logs if e["event"] == "journal_tail_repaired"]
    assert warning["file"] == str(path) and warning["error_code"] == ErrorCode.SPOOL_002
    assert path.stat().st_size == whole, "cut back to its last whole frame"
    with capture_logs() as again:
        async with Journal(tmp_path, max_bytes=2**30) as journal:
            journal.attach("sqlite", Collect())
            assert await read_all(journal, "sqlite") == mixed_records(305)
    assert not [e for e in again if e["log_level"] == "warning"], "the garbage was removed from disk"


async def test_a_corrupt_frame_in_the_middle_loses_only_its_own_records(tmp_path):
    async with Journal(tmp_path, max_bytes=2**30, frame_records=100) as journal:
        journal.attach("sqlite", Collect())
        await journal.append(mixed_records(500))  # five frames of 100
    (path,) = segment_files(tmp_path)
    data = bytearray(path.read_bytes())
    second = HEADER.unpack_from(data, 0)[1] + HEADER.size  # where frame 2 starts
    data[second + HEADER.size + 20] ^= 0xFF  # one flipped bit inside frame 2's payload
    path.write_bytes(bytes(data))
    with capture_logs() as logs:
        async with Journal(tmp_path, max_bytes=2**30) as journal:
            journal.attach("sqlite", Collect())
            survived = await read_all(journal, "sqlite")
    records = mixed_records(500)
    assert survived == records[:100] + records[200:], "exactly the damaged frame's 100 records are gone"
    assert [e["error_code"] for e in logs if e["event"] == "journal_frame_corrupt"] == [ErrorCode.SPOOL_002]
    with capture_logs() as again:
        async with Journal(tmp_path, max_bytes=2**30) as journal:
            journal.attach("sqlite", Collect())
    assert not [e for e in again if e["event"] == "journal_frame_corrupt"], "rewritten without it"


async def test_frames_read_as_written_give_exactly_the_range_asked_for(tmp_path):
    """`read_frames` hands over whole frames (the first may begin before the range, the last end
    after it); their rows between the two seqs are the records of the range, nothing else."""
    records = mixed_records(500)
    async with Journal(tmp_path, max_bytes=2**30, frame_records=100) as journal:
        journal.attach("parquet", Collect())
        await journal.append(records)
        read = await journal.read_frames("parquet", 150, 200)
        assert (read.first_seq, read.end_seq, len(read.frames)) == (150, 300, 2)
        assert read.records == 150
        assert rows_between(b"".join(read.frames), 150, 300) == [list(row) for row in rows_of(records[150:300])]
        cut = read.until(220)
        assert (cut.first_seq, cut.end_seq, cut.records) == (150, 220, 70)
        assert rows_between(b"".join(cut.frames), cut.first_seq, cut.end_seq) == [
            list(row) for row in rows_of(records[150:220])]


async def test_frames_read_as_written_leave_out_a_damaged_frame_and_count_its_records(tmp_path):
    records = mixed_records(300)
    async with Journal(tmp_path, max_bytes=2**30, frame_records=100) as journal:
        journal.attach("parquet", Collect())
        await journal.append(records)
        (path,) = segment_files(tmp_path)
        data = bytearray(path.read_bytes())
        second = HEADER.unpack_from(data, 0)[1] + HEADER.size
        data[second + HEADER.size + 20] ^= 0xFF  # damaged after the journal's scan at open
        path.write_bytes(bytes(data))
        with capture_logs() as logs:
            read = await journal.read_frames("parquet", 0, 300)
        assert rows_between(b"".join(read.frames), 0, 300) == [
            list(row) for row in rows_of(records[:100] + records[200:])]
        assert journal.dropped("parquet") == 100
    assert [e["records_lost"] for e in logs if e["event"] == "journal_frame_corrupt"] == [100]


async def test_a_frame_whose_payload_still_parses_but_changed_is_caught_by_its_checksum(tmp_path):
    async with Journal(tmp_path, max_bytes=2**30, frame_records=100) as journal:
        journal.attach("sqlite", Collect())
        await journal.append(mixed_records(300))  # three frames of 100
    (path,) = segment_files(tmp_path)
    data = bytearray(path.read_bytes())
    second = HEADER.unpack_from(data, 0)[1] + HEADER.size  # where frame 2 starts
    price = data.index(b".", second + HEADER.size) + 1  # a price's first decimal in frame 2
    data[price] = ord("1") if data[price] != ord("1") else ord("2")  # still valid JSON, another price
    path.write_bytes(bytes(data))
    with capture_logs() as logs:
        async with Journal(tmp_path, max_bytes=2**30) as journal:
            journal.attach("sqlite", Collect())
            survived = await read_all(journal, "sqlite")
    records = mixed_records(300)
    assert survived == records[:100] + records[200:], "no record with a changed value reaches a sink"
    (corrupt,) = [e for e in logs if e["event"] == "journal_frame_corrupt"]
    assert corrupt["file"] == str(path) and corrupt["error_code"] == ErrorCode.SPOOL_002


async def test_a_full_journal_drops_only_what_the_lagging_sink_has_not_taken(tmp_path):
    def dropped(sink: str) -> float:
        return metrics.REGISTRY.get_sample_value(
            "collector_records_dropped_total", {"sink": sink, "reason": "journal_full"}) or 0.0

    before = dropped("lagging")
    with capture_logs() as logs:
        async with Journal(tmp_path, max_bytes=64 * 1024, frame_records=50, segment_bytes=8192) as journal:
            journal.attach("keeping-up", Collect())
            journal.attach("lagging", Collect())
            records, end = mixed_records(3000), 0
            for start in range(0, 3000, 50):
                end = await journal.append(records[start:start + 50])
                journal.commit("keeping-up", end)  # writes everything as it comes
            assert journal.bytes <= 64 * 1024 + 8192
            assert journal.dropped("keeping-up") == 0
            lost = journal.dropped("lagging")
            assert lost > 0 and dropped("lagging") - before == lost
            kept = await read_all(journal, "lagging")
            assert kept == records[lost:], "the oldest go, the newest are kept, no holes"
    full = [e for e in logs if e["event"] == "journal_full"]
    assert len(full) == 1 and full[0]["sink"] == "lagging", "logged once per episode"
    assert full[0]["error_code"] == ErrorCode.SPOOL_001


class Holding:
    """A reader that takes every commit into memory (a writer whose sink is slow to confirm)."""

    def __init__(self) -> None:
        self.end = 0

    def offer(self, records, first_seq, frame) -> None:
        self.end = first_seq + len(records)

    def held_until(self) -> int:
        return self.end


async def test_a_full_journal_counts_no_record_a_writer_already_holds_in_memory(tmp_path):
    async with Journal(tmp_path, max_bytes=16 * 1024, frame_records=50, segment_bytes=4096) as journal:
        journal.attach("holding", Holding())
        journal.attach("lagging", Collect())
        await journal.append(mixed_records(2000))  # one commit: every segment but the newest goes
        assert journal.oldest_seq > 0
        assert journal.dropped("holding") == 0, "its writer writes them from memory"
        assert journal.dropped("lagging") == journal.oldest_seq, "the lagging sink lost all of those"
        assert journal.cursor("holding") == 0, "not confirmed: the cursor waits for the writer's commit"


async def test_a_segment_the_full_journal_deletes_while_a_sink_reads_it_is_counted_once(tmp_path):
    # Reads run on the loop's default executor: one busy thread holds this read back until the
    # full journal has deleted the segment it is about to open.
    gate, executor = threading.Event(), ThreadPoolExecutor(1)
    asyncio.get_running_loop().set_default_executor(executor)
    async with Journal(tmp_path, max_bytes=64 * 1024, frame_records=50, segment_bytes=8192) as journal:
        journal.attach("reading", Collect())  # holds nothing: its reads are all it gets
        await journal.append(mixed_records(100))
        executor.submit(gate.wait)
        try:
            reading = asyncio.create_task(journal.read("reading", 0, 50))
            await asyncio.sleep(0)  # the read is planned: records 0..49 of the first segment
            await journal.append(mixed_records(2000, start=100))  # the first segment goes
            await journal.append(mixed_records(1, start=2100))  # its file was unlinked before this write
            assert journal.oldest_seq > 50
        finally:
            gate.set()
        read = await reading
        assert read.records == [] and (read.first_seq, read.end_seq) == (0, 50), "skipped, not an error"
        assert journal.dropped("reading") == journal.oldest_seq, "each lost record counted once"


def settlement(exchange: str, symbol: str, hour: int) -> FundingSettlement:
    return FundingSettlement(exchange, symbol, HOUR_0 + hour * 3_600_000, HOUR_0 + 10 ** 8, 0.0001)


async def test_the_newest_settlement_journaled_per_symbol_is_kept_across_a_restart(tmp_path):
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        journal.attach("sqlite", Collect())
        await journal.append([settlement("okx", "BTC/USDT:USDT", 8), *mixed_records(10),
                              settlement("okx", "BTC/USDT:USDT", 16), settlement("okx", "ETH/USDT:USDT", 4)])
        await journal.append([settlement("okx", "BTC/USDT:USDT", 0),  # older: does not move it back
                              settlement("binance", "BTC/USDT:USDT", 8)])
    crashed = Journal(tmp_path, max_bytes=2**30)  # kill -9 right after the append returned
    await crashed.open()
    await crashed.append([settlement("bybit", "BTC/USDT:USDT", 1)])
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        assert journal.settled("okx") == {"BTC/USDT:USDT": HOUR_0 + 16 * 3_600_000,
                                          "ETH/USDT:USDT": HOUR_0 + 4 * 3_600_000}
        assert journal.settled("binance") == {"BTC/USDT:USDT": HOUR_0 + 8 * 3_600_000}
        assert journal.settled("bybit") == {"BTC/USDT:USDT": HOUR_0 + 3_600_000}, "saved with the append"
        assert journal.settled("kraken") == {}
    await crashed.close()


async def test_an_unreadable_settled_file_is_one_warning_and_the_window_is_fetched_again(tmp_path):
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / "settled.json").write_text("{not json")
    with capture_logs() as logs:
        async with Journal(tmp_path, max_bytes=2**30) as journal:
            assert journal.settled("okx") == {}
    warning = [e for e in logs if e["event"] == "journal_settled_unreadable"]
    assert len(warning) == 1 and warning[0]["error_code"] == ErrorCode.SPOOL_002


async def test_a_spool_dir_that_is_a_file_is_one_coded_error(tmp_path):
    blocker = tmp_path / "spool"
    blocker.write_text("not a directory")
    with pytest.raises(CollectorError) as caught:
        async with Journal(blocker, max_bytes=2**30):
            pass
    assert caught.value.code == ErrorCode.SPOOL_001
    assert str(blocker) in str(caught.value) and "\n" not in str(caught.value)


def old_spool_frame(records) -> bytes:
    payload = json.dumps([[r.kind, *(getattr(r, c) for c in columns(r.kind))] for r in records],
                         separators=(",", ":")).encode()
    counts = struct.pack("<II", len(payload), len(records))
    return struct.pack("<4sIII", b"\xf5SPL", len(payload), len(records),
                       zlib.crc32(payload, zlib.crc32(counts))) + payload


async def test_the_previous_versions_spool_is_imported_once_and_removed(tmp_path):
    records = mixed_records(300)
    for sink, part in (("postgres", records[:200]), ("rabbitmq", records[100:])):
        folder = tmp_path / sink
        folder.mkdir()
        (folder / "0000000000000001.seg").write_bytes(old_spool_frame(part))
    with capture_logs() as logs:
        async with Journal(tmp_path, max_bytes=2**30) as journal:
            journal.attach("postgres", Collect())
            imported = await read_all(journal, "postgres")
    assert len(imported) == 300 and sorted(imported, key=identity) == sorted(records, key=identity), \
        "each identity of the old spools once"
    assert not (tmp_path / "postgres").exists() and not (tmp_path / "rabbitmq").exists()
    (line,) = [e for e in logs if e["event"] == "legacy_spool_imported"]
    assert line["records"] == 300
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        journal.attach("postgres", Collect())
        assert len(await read_all(journal, "postgres")) == 300, "imported once, not twice"
