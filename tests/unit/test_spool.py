"""The on-disk spool: order, durability across reopen, repair of torn and corrupt segments,
the full-spool policy."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from collector import metrics
from collector.records import FundingRate, Ticker
from collector.sinks.spool import Spool, encode_frame

T0 = 1_700_000_000_000


def tickers(n: int, start: int = 0) -> list[Ticker]:
    return [Ticker("binance", "BTC/USDT:USDT", T0 + i, T0 + i + 5, last=100.0 + i, bid=None, open_interest=7)
            for i in range(start, start + n)]


async def drain(spool: Spool, batch: int = 100) -> list:
    out = []
    while (chunk := await spool.read(batch)).records:
        out.extend(chunk.records)
        await spool.confirm(chunk)
    return out


def segments(spool: Spool) -> list[Path]:
    return sorted(spool.path.glob("*.seg"))


async def test_records_come_back_in_order_and_equal_after_reopen(tmp_path):
    records = tickers(250) + [FundingRate("okx", "ETH/USDT:USDT", T0, T0, 0.0001, T0 + 8 * 3600_000)]
    async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
        assert await spool.append(records, frame_records=40) == 251
        assert spool.records == 251 and spool.bytes > 0
    async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
        assert spool.records == 251
        assert await drain(spool) == records
        assert spool.records == 0 and spool.bytes == 0
        assert segments(spool) == []


async def test_spool_lives_in_a_folder_named_after_the_sink(tmp_path):
    async with Spool(tmp_path, "postgres", 10_000_000) as spool:
        await spool.append(tickers(3))
        assert [p.parent for p in segments(spool)] == [tmp_path / "postgres"]


async def test_segments_rotate_and_are_deleted_only_once_every_record_is_confirmed(tmp_path):
    async with Spool(tmp_path, "pg", 10_000_000, segment_bytes=4096) as spool:
        for start in range(0, 600, 10):
            await spool.append(tickers(10, start))
        first, *rest = segments(spool)
        assert rest, "the spool should have rotated to several segments"
        chunk = await spool.read(5)  # whole frames only: 10 records
        assert len(chunk) == 10
        await spool.confirm(chunk)
        confirmed = 10
        assert first.exists(), "the first segment still holds unconfirmed records"
        while first.exists():
            chunk = await spool.read(10)
            assert first.exists(), "reading alone deletes nothing"
            await spool.confirm(chunk)
            confirmed += len(chunk)
        assert spool.records == 600 - confirmed and segments(spool) == rest


async def test_a_crash_in_the_middle_of_replay_replays_the_unconfirmed_segment_again(tmp_path):
    records = tickers(300)
    spool = Spool(tmp_path, "ch", 10_000_000, segment_bytes=4096)
    await spool.open()
    for start in range(0, 300, 30):
        await spool.append(records[start:start + 30], frame_records=30)
    confirmed = []
    for _ in range(3):
        chunk = await spool.read(30)
        await spool.confirm(chunk)
        confirmed.extend(chunk.records)
    await spool.read(30)  # read, written to the sink perhaps, but the crash came before confirm
    # crash: no close()
    async with Spool(tmp_path, "ch", 10_000_000) as reopened:
        replayed = await drain(reopened)
    assert len(replayed) >= 300 - len(confirmed)
    assert replayed == records[300 - len(replayed):], "the unconfirmed tail, in order"


async def test_a_torn_last_record_is_cut_off_with_a_warning_naming_the_file(tmp_path):
    async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
        await spool.append(tickers(10), frame_records=5)
        (segment,) = segments(spool)
    with segment.open("ab") as file:  # a crash in the middle of the next append
        file.write(torn_frame())
    with capture_logs() as logs:
        async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
            assert spool.records == 10
            assert await drain(spool) == tickers(10)
    (warning,) = [e for e in logs if e["event"] == "spool_tail_repaired"]
    assert warning["file"] == str(segment) and warning["error_code"] == "SPOOL_002"
    assert warning["log_level"] == "warning"


def torn_frame() -> bytes:
    return encode_frame(tickers(5, 100))[:-7]


async def test_appends_after_a_repaired_tail_are_readable(tmp_path):
    async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
        await spool.append(tickers(5))
        (segment,) = segments(spool)
    with segment.open("ab") as file:
        file.write(b"\xf5SPL\x00\x01")
    async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
        await spool.append(tickers(5, 5))
    async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
        assert await drain(spool) == tickers(10)


async def test_a_corrupt_frame_in_the_middle_is_detected_and_the_rest_kept(tmp_path):
    async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
        for start in (0, 5, 10):
            await spool.append(tickers(5, start), frame_records=5)
        (segment,) = segments(spool)
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the middle frame
    segment.write_bytes(bytes(data))
    with capture_logs() as logs:
        async with Spool(tmp_path, "sqlite", 10_000_000) as spool:
            assert await drain(spool) == tickers(5) + tickers(5, 10)
    (warning,) = [e for e in logs if e["event"] == "spool_segment_corrupt"]
    assert warning["file"] == str(segment) and warning["error_code"] == "SPOOL_002"


async def test_a_full_spool_drops_the_newest_records_and_counts_them(tmp_path):
    def dropped() -> float:
        return metrics.REGISTRY.get_sample_value(
            "collector_records_dropped_total", {"sink": "tiny", "reason": "spool_full"}) or 0.0

    before = dropped()
    with capture_logs() as logs:
        async with Spool(tmp_path, "tiny", 2000) as spool:
            kept = await spool.append(tickers(40), frame_records=5)
            assert 0 < kept < 40
            assert await spool.append(tickers(5, 40)) == 0
            assert spool.bytes <= 2000
            assert await drain(spool) == tickers(kept)  # the oldest kept, contiguous
    assert dropped() - before == 40 - kept + 5
    full = [e for e in logs if e["event"] == "spool_full"]
    assert len(full) == 1 and full[0]["error_code"] == "SPOOL_001", "logged once per episode"
    assert [e["dropped_records"] for e in logs if e["event"] == "spool_full_ended"] == [45 - kept]


async def test_records_and_bytes_follow_appends_and_confirms(tmp_path):
    async with Spool(tmp_path, "x", 10_000_000) as spool:
        assert (spool.records, spool.bytes) == (0, 0)
        await spool.append(tickers(20), frame_records=10)
        size = spool.bytes
        chunk = await spool.read(10)
        await spool.confirm(chunk)
        assert spool.records == 10 and spool.bytes == size  # segment not finished yet
        await spool.confirm(await spool.read(10))
        assert (spool.records, spool.bytes) == (0, 0)
