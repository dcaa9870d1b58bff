"""A full journal (`spool_max_bytes` reached) while PostgreSQL is cut and SQLite keeps up: the
drop count each sink reports (`records_dropped`, `journal_full`) is exactly the records that
sink never got; what a writer already held in memory is written, not counted."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from collector import metrics
from collector.config import BatchProcessingConfig, CircuitBreakerConfig, RetryConfig, SQLiteConfig
from collector.journal import Journal
from collector.records import identity
from collector.sinks.postgres import PostgresSink
from collector.sinks.sqlite import SQLiteSink
from collector.sinks.writer import BatchWriter
from tests.integration.test_delivery_sinks import DATABASE, make_records, postgres_records, sqlite_records
from tests.support.memory_sink import FakeClock, eventually
from tests.support.postgres import postgres_config  # noqa: F401 - fixture
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

RETRY = RetryConfig(max_attempts=2, base_delay=0.1, max_delay=0.5)
BREAKER = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=1.0)


def dropped_metric(sink: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "collector_records_dropped_total", {"sink": sink, "reason": "journal_full"}) or 0.0


def writer(sink, journal: Journal, spool_dir: Path, clock: FakeClock) -> BatchWriter:
    batch = BatchProcessingConfig(batch_size=100, flush_interval=0.2, queue_max_size=100_000,
                                  spool_dir=spool_dir)
    return BatchWriter(sink, journal, batch, RETRY, BREAKER, stop_timeout=30.0, clock=clock,
                       connect_timeout=DATABASE.connect_timeout, write_timeout=DATABASE.timeout)


async def test_a_full_journal_counts_for_each_sink_exactly_the_records_it_never_got(
        tmp_path, postgres_config):  # noqa: F811 - fixture
    records = make_records(6000)
    spool_dir = tmp_path / "spool"
    clock = FakeClock()  # the cut sink's next probe waits for this clock: it moves when the test says
    before = {name: dropped_metric(name) for name in ("postgres", "sqlite")}
    async with TcpProxy(postgres_config.host, postgres_config.port) as proxy, AsyncExitStack() as stack:
        await proxy.cut()
        journal = await stack.enter_async_context(
            Journal(spool_dir, max_bytes=64 * 1024, frame_records=100, segment_bytes=16 * 1024))
        postgres = await stack.enter_async_context(writer(
            PostgresSink(postgres_config.model_copy(update={"port": proxy.port}), DATABASE), journal,
            spool_dir, clock))
        sqlite = await stack.enter_async_context(writer(
            SQLiteSink(SQLiteConfig(path=tmp_path / "collector.db"), DATABASE), journal, spool_dir, clock))
        await eventually(lambda: postgres.status()["state"] == "down", timeout=30)

        # One commit of far more than the journal keeps: SQLite's writer takes all of it into its
        # read-ahead as it is committed, the cut PostgreSQL's one batch; the oldest segments go.
        await journal.append(records)
        assert journal.oldest_seq > 1000, "the journal was full and dropped its oldest segments"

        await proxy.restore()
        clock.advance(3600)  # the breaker's pause and the backoff are over: probe now
        await eventually(lambda: journal.backlog("postgres") == 0 and journal.backlog("sqlite") == 0,
                         timeout=60)
        counted = {"postgres": postgres.status()["dropped_records"],
                   "sqlite": sqlite.status()["dropped_records"]}

    sent = {identity(r) for r in records}
    missing = {"postgres": sent - {identity(r) for r in await postgres_records(postgres_config)},
               "sqlite": sent - {identity(r) for r in sqlite_records(tmp_path / "collector.db")}}
    assert counted["sqlite"] == len(missing["sqlite"]) == 0, "SQLite held every record and wrote it"
    assert len(missing["postgres"]) > 0, "the cut sink lost the oldest records"
    assert counted["postgres"] == len(missing["postgres"]), "exactly the records PostgreSQL lacks"
    for name in ("postgres", "sqlite"):
        assert dropped_metric(name) - before[name] == counted[name], "the alert reads the same count"
