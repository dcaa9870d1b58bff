"""The batching writer over the journal: batches by size and by time, reads the journal from disk
while its sink was down or slow, delivers in order once it is back, moves its cursor only after a
confirmed write, stops within its timeout, and never holds up collection or the other sinks."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from collector import metrics
from collector.errors import ErrorCode, SinkHolding
from tests.support.memory_sink import BREAKER, FakeClock, MemorySink, eventually, journal_with_writers, tickers


async def test_a_batch_is_written_as_soon_as_it_reaches_batch_size(tmp_path):
    sink = MemorySink("size")
    async with journal_with_writers(tmp_path, sink, batch_size=3) as (journal, (writer,)):
        await journal.append(tickers(7))
        await eventually(lambda: len(sink.batches) == 2)
        await asyncio.sleep(0.1)
        assert [len(b) for b in sink.batches] == [3, 3], "the 7th record waits for more or for time"
        assert writer.status()["queue_depth"] == 1


async def test_a_partial_batch_is_written_once_flush_interval_has_passed(tmp_path):
    sink, clock = MemorySink("interval"), FakeClock()
    async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=100, flush_interval=5.0) as (journal, (writer,)):
        await journal.append(tickers(2))
        clock.advance(4.9)
        await asyncio.sleep(0.2)
        assert sink.batches == []
        clock.advance(0.1)
        await eventually(lambda: sink.batches == [tickers(2)])
        assert writer.status()["last_flush"] == pytest.approx(time.time(), abs=5)


async def test_what_was_journaled_in_many_appends_is_drained_into_one_batch(tmp_path):
    sink, clock = MemorySink("drain"), FakeClock()
    async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=100, flush_interval=1.0) as (journal, _):
        for record in tickers(40):
            await journal.append([record])
        clock.advance(1.0)
        await eventually(lambda: sink.batches)
        assert sink.batches == [tickers(40)]


async def test_a_sink_slower_than_collection_reads_the_journal_from_disk_and_gets_everything_in_order(tmp_path):
    sink, clock = MemorySink("slow"), FakeClock()
    sink.hang = True
    async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=5, queue_max_size=10,
                                    write_timeout=0.3) as (journal, (writer,)):
        await journal.append(tickers(5))  # taken as a batch; its write hangs
        await asyncio.sleep(0.05)
        for start in range(5, 205, 5):
            await journal.append(tickers(5, start))  # returns once on disk, whatever the sink does
        assert writer.status()["queue_depth"] <= 10 + 5, "memory stays bounded by queue_max_size"
        assert writer.status()["spooled_records"] == 205
        sink.hang = False  # the hung write times out; its retry goes through
        # On a loaded machine the appends outlast both tries: then the backoff and the breaker
        # wait on the writer's clock, which only the test moves.
        await eventually(lambda: clock.advance(1.0) or len(sink.records) >= 205, timeout=10)
        await writer.flush()
    assert sink.records == tickers(205), "each record once, in the order journaled"


async def test_a_down_sink_catches_up_from_the_journal_in_order_with_one_line_per_outage(tmp_path):
    sink, clock = MemorySink("outage"), FakeClock()
    with capture_logs() as logs:
        async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=10) as (journal, (writer,)):
            await journal.append(tickers(10))
            await eventually(lambda: len(sink.batches) == 1)
            sink.down = True
            for start in range(10, 100, 10):
                await journal.append(tickers(10, start))
            await writer.flush()  # the sink is down: flush returns, the records are in the journal
            assert writer.status()["state"] == "down"
            assert writer.status()["spooled_records"] == 90
            assert writer.status()["queue_depth"] <= 2 * 10, "a down sink holds its probe batch and one more"
            sink.down = False
            clock.advance(BREAKER.recovery_timeout + 1)
            await eventually(lambda: writer.status()["state"] == "ok" and writer.backlog == 0)
            await journal.append(tickers(10, 100))
            await writer.flush()
    assert sink.records == tickers(110), "every record once, in the order collected"
    down = [e for e in logs if e["event"] == "sink_down"]
    assert len(down) == 1 and down[0]["error_code"] == ErrorCode.DB_001, "logged once per outage"
    assert len([e for e in logs if e["event"] == "sink_recovered"]) == 1


async def test_a_sink_that_cannot_connect_at_start_does_not_hold_up_the_start_and_is_retried(tmp_path):
    sink, clock = MemorySink("late"), FakeClock()
    sink.hang_open = True  # accepts TCP, never answers
    started = time.perf_counter()
    with capture_logs() as logs:
        async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=5,
                                        connect_timeout=0.2) as (journal, (writer,)):
            assert time.perf_counter() - started < 1.0, "entering a writer never waits for its sink"
            assert writer.status()["state"] == "connecting"
            await journal.append(tickers(5))
            await eventually(lambda: writer.status()["state"] == "down")
            assert "connect timed out after 0.2s" in writer.status()["last_error"]
            assert "memory:late" in writer.status()["last_error"], "the error names where the sink is"
            sink.hang_open = False
            clock.advance(60)
            await eventually(lambda: writer.status()["state"] == "ok")
            await writer.flush()
    assert sink.records == tickers(5)
    assert [e["error_code"] for e in logs if e["event"] == "sink_down"] == [ErrorCode.DB_001]


async def test_what_a_sink_did_not_get_before_a_restart_is_delivered_after_it_first(tmp_path):
    sink = MemorySink("restart")
    sink.down = True
    async with journal_with_writers(tmp_path, sink, batch_size=10) as (journal, (writer,)):
        await journal.append(tickers(30))
    assert writer.status()["state"] == "stopped" and sink.closed
    healthy = MemorySink("restart")
    async with journal_with_writers(tmp_path, healthy, batch_size=10) as (journal, (writer,)):
        await journal.append(tickers(5, 30))
        await writer.flush()
    assert healthy.records == tickers(35)


async def test_a_confirmed_batch_is_not_written_again_after_a_restart(tmp_path):
    sink = MemorySink("once")
    async with journal_with_writers(tmp_path, sink, batch_size=10) as (journal, (writer,)):
        await journal.append(tickers(20))
        await writer.flush()
    again = MemorySink("once")
    async with journal_with_writers(tmp_path, again, batch_size=10) as (journal, (writer,)):
        await writer.flush()
    assert again.records == [], "the cursor was saved past what the sink confirmed"


async def test_stop_writes_what_is_journaled(tmp_path):
    sink = MemorySink("bye")
    async with journal_with_writers(tmp_path, sink, batch_size=1000, flush_interval=3600) as (journal, _):
        await journal.append(tickers(42))
    assert sink.records == tickers(42) and sink.closed


async def test_stop_with_a_hanging_sink_ends_within_its_timeout_and_keeps_the_records(tmp_path):
    sink = MemorySink("hung")
    async with journal_with_writers(tmp_path, sink, batch_size=10, stop_timeout=0.2) as (journal, _):
        sink.hang = True
        await journal.append(tickers(25))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
    assert time.perf_counter() - started < 0.2 + 3.5, "stop timeout + cancel grace + close bound"
    healthy = MemorySink("hung")
    async with journal_with_writers(tmp_path, healthy, batch_size=10) as (journal, (writer,)):
        await writer.flush()
    assert healthy.records == tickers(25)


async def test_a_dead_sink_does_not_slow_another_writer(tmp_path):
    dead, alive = MemorySink("dead"), MemorySink("alive")
    dead.hang = True
    async with journal_with_writers(tmp_path, dead, alive, batch_size=100, queue_max_size=500,
                                    stop_timeout=0.2) as (journal, (stuck, healthy)):
        for start in range(0, 5000, 100):
            await journal.append(tickers(100, start))
        await healthy.flush()
        assert alive.records == tickers(5000)
        assert stuck.status()["spooled_records"] == 5000
        assert stuck.status()["queue_depth"] <= 500 + 100


async def test_a_stalled_sink_turns_lagging_once_its_oldest_record_is_older_than_the_threshold(tmp_path):
    sink, wall = MemorySink("stall"), FakeClock(time.time())
    sink.hang = True
    async with journal_with_writers(tmp_path, sink, batch_size=10, flush_interval=1.0,
                                    wall_clock=wall, write_timeout=3600, stop_timeout=0.2) as (journal, (writer,)):
        await journal.append(tickers(10))
        await eventually(lambda: writer.status()["queue_depth"] == 10)
        assert writer.lag_threshold == 10.0, "max(3 × flush_interval, 10 s)"
        wall.advance(9.0)
        assert writer.status()["state"] in ("connecting", "ok")
        wall.advance(2.0)
        status = writer.status()
        assert status["state"] == "lagging" and status["lag_s"] >= 10.0
        assert metrics.REGISTRY.get_sample_value("collector_sink_lag_seconds", {"sink": "stall"}) >= 10.0


async def test_written_and_replayed_records_are_counted(tmp_path):
    def value(name: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"sink": "counted"}) or 0.0

    sink, clock = MemorySink("counted"), FakeClock()
    written, replayed = value("collector_records_written_total"), value("collector_records_spooled_total")
    async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=10) as (journal, (writer,)):
        await journal.append(tickers(20))
        await writer.flush()
        sink.down = True
        for start in (20, 30, 40):
            await journal.append(tickers(10, start))
        await writer.flush()
        sink.down = False
        clock.advance(60)
        await eventually(lambda: writer.backlog == 0)
    assert value("collector_records_written_total") - written == 50
    assert value("collector_records_spooled_total") - replayed >= 1, "records read back from disk"


async def test_a_sink_disabled_in_the_config_is_not_waited_for(tmp_path):
    first, second = MemorySink("a"), MemorySink("b")
    async with journal_with_writers(tmp_path, first, second, batch_size=10, segment_bytes=4096) as (journal, _):
        second.down = True
        for start in range(0, 2000, 100):
            await journal.append(tickers(100, start))
    async with journal_with_writers(tmp_path, first, batch_size=10, segment_bytes=4096) as (journal, (writer,)):
        await writer.flush()
        await asyncio.sleep(0.5)  # the cursors are saved and old segments deleted a few times a second
        assert journal.status()["segments"] <= 2, "sink b (no longer configured) does not keep segments"


class HoldingSink(MemorySink):
    """Answers, but holds a batch back (as RabbitMQ with `unroutable: hold` while no queue binds it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.holding = False

    async def write(self, records):
        if self.holding and not self.down:
            raise SinkHolding(f"{self.name}: no queue binds them", code=ErrorCode.MQ_003)
        await super().write(records)


async def test_a_held_batch_stays_in_the_journal_without_an_outage_and_a_sink_that_answers_again_is_up(tmp_path):
    sink, clock = HoldingSink("held"), FakeClock()
    with capture_logs() as logs:
        async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=10) as (journal, (writer,)):
            await journal.append(tickers(10))
            await eventually(lambda: len(sink.batches) == 1)
            sink.down = True  # an outage first...
            await journal.append(tickers(10, 10))
            await writer.flush()
            assert writer.status()["state"] == "down"
            sink.down, sink.holding = False, True  # ...then the broker is back, but holds the batch
            clock.advance(BREAKER.recovery_timeout + 1)
            await eventually(lambda: writer.status()["state"] == "ok")
            await writer.flush()  # returns while held: the records stay in the journal
            assert writer.backlog == 10
            sink.holding = False
            clock.advance(60)
            await eventually(lambda: writer.backlog == 0)
    assert sink.records == tickers(20)
    assert [e["event"] for e in logs if e["event"] in ("sink_down", "sink_recovered")] == [
        "sink_down", "sink_recovered"], "one outage; holding is not a second one"


async def test_records_held_in_memory_when_the_full_journal_drops_them_are_still_written_after_an_outage(tmp_path):
    sink, clock = MemorySink("held"), FakeClock()
    async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=10,
                                    max_bytes=4096, segment_bytes=1024) as (journal, (writer,)):
        await eventually(lambda: writer.status()["state"] == "ok")  # connected, nothing to write yet
        sink.down = True  # refuses from now on; the writer finds out at its next write
        await journal.append(tickers(300))  # all taken into the read-ahead; the journal drops the oldest
        assert journal.oldest_seq > 10 and journal.dropped("held") == 0
        await eventually(lambda: writer.status()["state"] == "down")
        sink.down = False
        clock.advance(60)
        await eventually(lambda: writer.backlog == 0)
        assert journal.dropped("held") == 0
    assert sink.records == tickers(300), "what the writer held when the journal dropped it was written"


async def test_a_stop_while_down_counts_the_held_records_the_full_journal_no_longer_has(tmp_path):
    sink, clock = MemorySink("gone"), FakeClock()
    sink.down = True
    async with journal_with_writers(tmp_path, sink, clock=clock, batch_size=10,
                                    max_bytes=4096, segment_bytes=1024) as (journal, (writer,)):
        await eventually(lambda: writer.status()["state"] == "down")
        await journal.append(tickers(300))  # the down writer takes one batch; the oldest segments go
        assert journal.dropped("gone") == journal.oldest_seq - 10, "its one batch is still held"
        await writer.stop()
        kept = journal.end_seq - journal.oldest_seq
        assert journal.dropped("gone") == journal.oldest_seq, "stopped unwritten: now lost, and counted"
    healthy = MemorySink("gone")
    async with journal_with_writers(tmp_path, healthy, batch_size=10) as (journal, (writer,)):
        await writer.flush()
    assert healthy.records == tickers(kept, 300 - kept), "dropped + delivered = collected"
