"""Observation semantics end to end, real ccxt against the simulator, real sinks: a changed
observation is never dropped, an unchanged one is stored once, two collectors polling the same
snapshot leave one row per observation, and the settled funding series survives an outage."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from pathlib import Path

import asyncpg

from collector.config import (
    CacheConfig, CircuitBreakerConfig, DatabaseConfig, ExchangeConfig, PerformanceConfig, RetryConfig,
    SQLiteConfig,
)
from collector.exchanges.source import ExchangeSource
from collector.journal import Journal
from collector.sinks.clickhouse import ClickHouseSink
from collector.sinks.postgres import PostgresSink
from collector.sinks.rabbitmq.sink import RabbitMQSink
from collector.sinks.sqlite import SQLiteSink
from exchange_simulator import Simulator
from exchange_simulator.listing import settlements
from tests.support.clickhouse import admin_client, clickhouse_config, clickhouse_server  # noqa: F401
from tests.support.postgres import postgres_config  # noqa: F401
from tests.support.rabbitmq import bound_queue, drain, rabbitmq_config  # noqa: F401
from tests.support.simulator import FakeClock

CCXT_IDS = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}
DATABASE = DatabaseConfig(timeout=10.0)
SYMBOLS = 5


@contextlib.asynccontextmanager
async def collector(sim: Simulator, clock=None, names=tuple(CCXT_IDS), journal=None, **settings):
    """One collector's sources: its own dedup memory, its own view of the exchanges (and the
    settlements `journal` holds, as a restarted daemon's)."""
    extra = {"clock": clock} if clock else {}
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(ExchangeSource(
            name, ExchangeConfig(ccxt_id=CCXT_IDS[name], rate_limit=10000, timeout=5.0,
                                 ccxt_options=sim.ccxt_options(CCXT_IDS[name])),
            performance=PerformanceConfig(), cache=CacheConfig(),
            retry=RetryConfig(max_attempts=1, base_delay=0.01, max_delay=0.01),
            circuit_breaker=CircuitBreakerConfig(failure_threshold=100), semaphore=asyncio.Semaphore(50),
            settled=journal.settled(name) if journal else None, **extra, **settings)) for name in names]


async def poll(sources, kinds=("ticker", "funding_rate")) -> list:
    return [r for source in sources for kind in kinds for r in await source.poll(kind)]


@contextlib.asynccontextmanager
async def every_sink(tmp_path: Path, postgres, clickhouse, rabbitmq):
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(sink) for sink in (
            SQLiteSink(SQLiteConfig(path=tmp_path / "c.db"), DATABASE), PostgresSink(postgres, DATABASE),
            ClickHouseSink(clickhouse, DATABASE), RabbitMQSink(rabbitmq, timeout=10.0))]


async def stored_rows(tmp_path: Path, postgres, clickhouse_server, clickhouse, table: str) -> dict:  # noqa: F811
    """Rows of `table` per SQL sink; ClickHouse with FINAL, and without it after its merge."""
    with sqlite3.connect(tmp_path / "c.db") as connection:
        sqlite_rows = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    pg = await asyncpg.connect(host=postgres.host, port=postgres.port, user=postgres.user,
                               database=postgres.database)
    try:
        pg_rows = await pg.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await pg.close()
    client = await admin_client(clickhouse_server)
    try:
        final = (await client.query(f"SELECT count() FROM `{clickhouse.database}`.{table} FINAL")).result_rows
        await client.command(f"OPTIMIZE TABLE `{clickhouse.database}`.{table} FINAL")
        merged = (await client.query(f"SELECT count() FROM `{clickhouse.database}`.{table}")).result_rows
    finally:
        await client.close()
    return {"sqlite": sqlite_rows, "postgres": pg_rows, "clickhouse FINAL": final[0][0],
            "clickhouse merged": merged[0][0]}


async def test_a_24h_window_moving_without_a_trade_lands_a_new_row_in_every_sink_an_unchanged_snapshot_none(
        tmp_path, postgres_config, clickhouse_server, clickhouse_config, rabbitmq_config):  # noqa: F811
    clock = FakeClock()
    async with Simulator(symbols=SYMBOLS, seed=31, clock=clock) as sim, collector(sim) as sources, \
            bound_queue(rabbitmq_config, "ticker.#") as queue, \
            every_sink(tmp_path, postgres_config, clickhouse_config, rabbitmq_config) as sinks:
        first = await poll(sources, ("ticker",))
        assert await poll(sources, ("ticker",)) == []  # the same snapshot again: nothing new
        for ccxt_id in CCXT_IDS.values():
            sim.set_trading(ccxt_id, False)
        clock.advance(1.0)
        moved = await poll(sources, ("ticker",))
        for sink in sinks:
            await sink.write(first)
            await sink.write(moved)
        messages = await drain(queue, quiet=0.5)
    before = {(r.exchange, r.symbol): r for r in first}
    binance = [r for r in moved if r.exchange == "binance"]
    assert len(moved) == len(first) == 3 * SYMBOLS
    for record in binance:  # no trade: the last price stayed; the window's volume did not
        old = before[(record.exchange, record.symbol)]
        assert record.last == old.last and record.base_volume_24h < old.base_volume_24h
        assert record.ts > old.ts
    rows = await stored_rows(tmp_path, postgres_config, clickhouse_server, clickhouse_config, "tickers")
    assert rows == dict.fromkeys(rows, 2 * 3 * SYMBOLS)
    assert len(messages) == 2 * 3 * SYMBOLS


async def test_two_collectors_polling_the_same_snapshots_leave_one_row_per_observation_in_every_sink(
        tmp_path, postgres_config, clickhouse_server, clickhouse_config, rabbitmq_config):  # noqa: F811
    clock = FakeClock()
    async with Simulator(symbols=SYMBOLS, seed=32, clock=clock) as sim, \
            collector(sim) as first, collector(sim) as second, \
            bound_queue(rabbitmq_config, "#") as queue, \
            every_sink(tmp_path, postgres_config, clickhouse_config, rabbitmq_config) as sinks:
        for _ in range(3):
            clock.advance(1.0)
            for records in (await poll(first), await poll(second)):
                assert len(records) == 2 * 3 * SYMBOLS
                for sink in sinks:
                    await sink.write(records)
        messages = await drain(queue, quiet=0.5)
    for table in ("tickers", "funding_rates"):
        rows = await stored_rows(tmp_path, postgres_config, clickhouse_server, clickhouse_config, table)
        assert rows == dict.fromkeys(rows, 3 * 3 * SYMBOLS), table
    copies = collections.Counter(m.message_id for m in messages)
    assert len(copies) == 2 * 3 * 3 * SYMBOLS and set(copies.values()) == {2}


async def test_after_an_outage_longer_than_two_funding_intervals_every_settlement_of_it_is_stored(tmp_path):
    clock = FakeClock()
    async with Simulator(symbols=SYMBOLS, seed=33, clock=clock) as sim, \
            collector(sim, clock, funding_history_days=1) as sources, \
            SQLiteSink(SQLiteConfig(path=tmp_path / "c.db"), DATABASE) as sink:
        started = int(clock() * 1000)
        await sink.write(await poll(sources, ("funding_rate", "funding_settlement")))
        for ccxt_id in CCXT_IDS.values():
            sim.set_fault(ccxt_id, "maintenance")
        for _ in range(17):  # 17 hours down: two 8 h settlements, up to 17 hourly ones
            clock.advance(3600.0)
            assert await poll(sources, ("funding_rate", "funding_settlement")) == []
        sim.clear_faults()
        await sink.write(await poll(sources, ("funding_rate", "funding_settlement")))
        now = int(clock() * 1000)
        specs = {spec.symbol: spec for spec in sim.specs("okx")}
    with sqlite3.connect(tmp_path / "c.db") as connection:
        stored = collections.defaultdict(list)
        for exchange, symbol, ts, rate in connection.execute(
                "SELECT exchange, symbol, ts, funding_rate FROM funding_settlements ORDER BY ts"):
            stored[(exchange, symbol)].append((ts, rate))
    assert len(stored) == 3 * SYMBOLS
    for (exchange, symbol), rows in stored.items():
        expected = [(t, rate) for t, rate, _ in settlements(specs[symbol], started - 86_400_000, now)]
        outage = [t for t, _ in expected if started < t <= now]
        assert len(outage) >= 2, symbol
        assert rows == expected, (exchange, symbol)


async def test_a_restarted_collector_asks_settled_funding_after_the_last_one_journaled_and_repeats_none(tmp_path):
    clock = FakeClock()
    async with Simulator(symbols=SYMBOLS, seed=35, clock=clock) as sim:
        async with Journal(tmp_path, max_bytes=2**30) as journal, \
                collector(sim, clock, journal=journal, funding_history_days=1) as sources:
            first = await poll(sources, ("funding_settlement",))
            await journal.append(first)
        clock.advance(9 * 3600.0)  # stopped for 9 h: every symbol settled again meanwhile
        async with Journal(tmp_path, max_bytes=2**30) as journal, \
                collector(sim, clock, journal=journal, funding_history_days=1) as sources:
            second = await poll(sources, ("funding_settlement",))
        now = int(clock() * 1000)
        specs = {spec.symbol: spec for spec in sim.specs("okx")}
    newest = {}
    for record in first:
        key = (record.exchange, record.symbol)
        newest[key] = max(newest.get(key, 0), record.ts)
    assert len(newest) == 3 * SYMBOLS
    got = collections.defaultdict(list)
    for record in second:
        got[(record.exchange, record.symbol)].append(record.ts)
    for (exchange, symbol), last in newest.items():
        since_then = [t for t, _, _ in settlements(specs[symbol], last + 1, now)]
        assert since_then, "9 h later every symbol has settled again"
        assert sorted(got[(exchange, symbol)]) == since_then, (exchange, symbol)  # none of `first`
