"""The batching writer: batches by size and by time, spools while its sink is down or slow,
replays in order once it is back, flushes or spools on shutdown, and never holds up collection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import pytest
from structlog.testing import capture_logs

from collector import metrics
from collector.config import BatchProcessingConfig, CircuitBreakerConfig, RetryConfig
from collector.errors import ErrorCode, SinkError
from collector.records import Record, Ticker
from collector.sinks.spool import Spool
from collector.sinks.writer import BatchWriter

T0 = 1_700_000_000_000
FAST_RETRY = RetryConfig(max_attempts=2, base_delay=0.001, max_delay=0.01)
BREAKER = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=5.0)


class MemorySink:
    """A test double of our Sink protocol: keeps what it was given, can be down or hang."""

    error_code = ErrorCode.DB_001

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[list[Record]] = []
        self.down = False
        self.hang = False
        self.delay = 0.0
        self.opens = 0
        self.closed = False

    @property
    def records(self) -> list[Record]:
        return [r for batch in self.batches for r in batch]

    async def open(self) -> None:
        self.opens += 1
        if self.down:
            raise SinkError(f"{self.name}: connection refused")

    async def write(self, records: Sequence[Record]) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise SinkError(f"{self.name}: connection refused")
        self.batches.append(list(records))

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tickers(n: int, start: int = 0, exchange: str = "binance") -> list[Ticker]:
    return [Ticker(exchange, "BTC/USDT:USDT", T0 + i, T0 + i, last=float(i)) for i in range(start, start + n)]


def batch_config(tmp_path: Path, **overrides) -> BatchProcessingConfig:
    values = {"batch_size": 100, "flush_interval": 3600.0, "queue_max_size": 10_000, "spool_dir": tmp_path}
    return BatchProcessingConfig(**(values | overrides))


def make_writer(sink, tmp_path, clock=None, *, stop_timeout=5.0, write_timeout=60.0, **batch) -> BatchWriter:
    return BatchWriter(sink, batch_config(tmp_path, **batch), FAST_RETRY, BREAKER,
                       stop_timeout=stop_timeout, write_timeout=write_timeout, clock=clock or FakeClock())


async def eventually(condition, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def spooled_on_disk(tmp_path: Path, name: str) -> int:
    return sum(1 for _ in (tmp_path / name).glob("*.seg"))


async def test_a_batch_is_written_as_soon_as_it_reaches_batch_size(tmp_path):
    sink = MemorySink("size")
    async with make_writer(sink, tmp_path, batch_size=3) as writer:
        writer.put_many(tickers(7))
        await eventually(lambda: len(sink.batches) == 2)
        await asyncio.sleep(0.1)
        assert [len(b) for b in sink.batches] == [3, 3], "the 7th record waits for more or for time"
        assert writer.status()["queue_depth"] == 1


async def test_a_partial_batch_is_written_once_flush_interval_has_passed(tmp_path):
    sink, clock = MemorySink("interval"), FakeClock()
    async with make_writer(sink, tmp_path, clock, batch_size=100, flush_interval=5.0) as writer:
        writer.put_many(tickers(2))
        clock.advance(4.9)
        await asyncio.sleep(0.2)
        assert sink.batches == []
        clock.advance(0.1)
        await eventually(lambda: sink.batches == [tickers(2)])
        assert writer.status()["last_flush"] == pytest.approx(time.time(), abs=5)


async def test_what_is_queued_is_drained_into_one_batch(tmp_path):
    sink, clock = MemorySink("drain"), FakeClock()
    async with make_writer(sink, tmp_path, clock, batch_size=100, flush_interval=1.0) as writer:
        for record in tickers(40):
            writer.put(record)
        clock.advance(1.0)
        await eventually(lambda: sink.batches)
        assert sink.batches == [tickers(40)]


async def test_a_full_queue_sends_records_to_the_spool_and_all_arrive_in_order(tmp_path):
    sink = MemorySink("slow")
    sink.hang = True
    async with make_writer(sink, tmp_path, batch_size=5, queue_max_size=10, write_timeout=0.3) as writer:
        writer.put_many(tickers(5))  # taken as a batch; its write hangs
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        for record in tickers(200, 5):
            writer.put(record)
        assert time.perf_counter() - started < 0.1, "put() must not wait for the sink"
        await eventually(lambda: writer.status()["spooled_records"] > 0)
        assert writer.status()["state"] == "spooling"
        sink.hang = False  # the hung write times out; its retry goes through
        await eventually(lambda: len(set(sink.records)) == 205, timeout=10)
        await writer.flush()
    assert sorted(set(sink.records), key=lambda r: r.ts) == tickers(205)
    assert writer.status()["spooled_records"] == 0


async def test_a_down_sink_spools_then_recovers_replays_in_order_and_deletes_the_spool(tmp_path):
    sink, clock = MemorySink("outage"), FakeClock()
    with capture_logs() as logs:
        async with make_writer(sink, tmp_path, clock, batch_size=10) as writer:
            writer.put_many(tickers(10))
            await eventually(lambda: len(sink.batches) == 1)
            sink.down = True
            for start in range(10, 100, 10):
                writer.put_many(tickers(10, start))
                await asyncio.sleep(0.01)
            await writer.flush()  # the sink is down: flush returns once everything is on disk
            assert writer.status()["state"] == "down"
            assert writer.status()["spooled_records"] == 90
            assert spooled_on_disk(tmp_path, "outage") >= 1
            sink.down = False
            clock.advance(BREAKER.recovery_timeout + 1)
            await eventually(lambda: writer.status()["state"] == "ok")  # spool replayed
            assert writer.status()["spooled_records"] == 0
            writer.put_many(tickers(10, 100))
            await writer.flush()
    assert sink.records == tickers(110), "every record once, in the order collected"
    assert spooled_on_disk(tmp_path, "outage") == 0
    down = [e for e in logs if e["event"] == "sink_down"]
    assert len(down) == 1 and down[0]["error_code"] == ErrorCode.DB_001, "logged once per outage"
    (recovered,) = [e for e in logs if e["event"] == "sink_recovered"]
    assert recovered["spooled_records"] == 90


async def test_a_flush_once_the_sink_is_back_returns_with_the_spool_replayed_and_the_writer_ok(tmp_path):
    sink, clock = MemorySink("outage"), FakeClock()
    async with make_writer(sink, tmp_path, clock, batch_size=10) as writer:
        sink.down = True
        writer.put_many(tickers(100))
        await writer.flush()
        assert writer.status()["state"] == "down"
        sink.down = False
        clock.advance(BREAKER.recovery_timeout + 1)
        await eventually(lambda: writer.status()["state"] != "down")
        await writer.flush()
        status = writer.status()
        assert (status["state"], status["spooled_records"], status["queue_depth"]) == ("ok", 0, 0)
        assert sink.records == tickers(100)


async def test_a_sink_that_cannot_open_at_start_is_not_fatal_and_is_retried(tmp_path):
    sink, clock = MemorySink("late"), FakeClock()
    sink.down = True
    with capture_logs() as logs:
        async with make_writer(sink, tmp_path, clock, batch_size=5) as writer:
            assert writer.status()["state"] == "down"
            assert "connection refused" in writer.status()["last_error"]
            writer.put_many(tickers(5))
            await writer.flush()
            assert writer.status()["spooled_records"] == 5
            sink.down = False
            clock.advance(60)
            await eventually(lambda: writer.status()["state"] == "ok")
    assert sink.records == tickers(5)
    assert [e["error_code"] for e in logs if e["event"] == "sink_down"] == [ErrorCode.DB_001]


async def test_the_spool_survives_a_restart_and_is_replayed_first(tmp_path):
    sink = MemorySink("restart")
    sink.down = True
    async with make_writer(sink, tmp_path, batch_size=10) as writer:
        writer.put_many(tickers(30))
    assert writer.status()["state"] == "stopped" and sink.closed
    healthy = MemorySink("restart")
    async with make_writer(healthy, tmp_path, batch_size=10) as writer:
        writer.put_many(tickers(5, 30))
        await writer.flush()
    assert healthy.records == tickers(35)
    assert spooled_on_disk(tmp_path, "restart") == 0


async def test_shutdown_writes_what_is_queued(tmp_path):
    sink = MemorySink("bye")
    async with make_writer(sink, tmp_path, batch_size=1000, flush_interval=3600) as writer:
        writer.put_many(tickers(42))
    assert sink.records == tickers(42) and sink.closed


async def test_shutdown_spools_what_a_hanging_sink_cannot_take_in_time(tmp_path):
    sink = MemorySink("hung")
    async with make_writer(sink, tmp_path, batch_size=10, stop_timeout=0.2) as writer:
        sink.hang = True
        writer.put_many(tickers(25))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
    assert time.perf_counter() - started < 2.0
    async with Spool(tmp_path, "hung", 10_000_000) as spool:
        assert spool.records == 25
        assert sorted((await spool.read(100)).records, key=lambda r: r.ts) == tickers(25)


async def test_a_dead_sink_does_not_slow_another_writer(tmp_path):
    dead, alive = MemorySink("dead"), MemorySink("alive")
    dead.hang = True
    async with make_writer(dead, tmp_path, batch_size=100, queue_max_size=500, stop_timeout=0.2) as stuck, \
            make_writer(alive, tmp_path, batch_size=100) as healthy:
        started = time.perf_counter()
        for start in range(0, 5000, 100):
            records = tickers(100, start)
            stuck.put_many(records)
            healthy.put_many(records)
        put_time = time.perf_counter() - started
        await healthy.flush()
        elapsed = time.perf_counter() - started
        assert put_time < 0.5 and elapsed < 2.0
        assert alive.records == tickers(5000)
        await eventually(lambda: stuck.status()["spooled_records"] > 0)


async def test_written_and_spooled_records_are_counted(tmp_path):
    def value(name: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"sink": "counted"}) or 0.0

    sink = MemorySink("counted")
    written, spooled = value("collector_records_written_total"), value("collector_records_spooled_total")
    async with make_writer(sink, tmp_path, batch_size=10) as writer:
        writer.put_many(tickers(20))
        await writer.flush()
        sink.down = True
        writer.put_many(tickers(10, 20))
        await writer.flush()
    assert value("collector_records_written_total") - written == 20
    assert value("collector_records_spooled_total") - spooled == 10


async def test_a_record_put_after_shutdown_is_counted_as_dropped_not_lost_silently(tmp_path):
    sink = MemorySink("late-put")
    async with make_writer(sink, tmp_path) as writer:
        pass
    writer.put(tickers(1)[0])
    assert metrics.REGISTRY.get_sample_value(
        "collector_records_dropped_total", {"sink": "late-put", "reason": "closed"}) == 1.0
