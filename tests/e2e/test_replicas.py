"""Two replicas of one shard, active-active into one PostgreSQL and one ClickHouse: they record the
same identities, each sink keeps one row per identity, and one replica killed with kill -9 leaves
the other's records flowing for every symbol."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request

import asyncpg

from collector.records import TABLES
from tests.support.clickhouse import admin_client, clickhouse_config, clickhouse_server  # noqa: F401
from tests.support.fleet import fleet
from tests.support.postgres import postgres_config  # noqa: F401
from tests.support.rabbitmq import bound_queue, drain, rabbitmq_config  # noqa: F401
from tests.support.simulator import simulator_factory  # noqa: F401
from tests.support.sink_contents import clickhouse_identities, postgres_identities, sqlite_identities

SYMBOLS = 12
TICK = 0.5  # seconds between two updates of a symbol on the simulator
STREAM_INTERVAL = 1.0
EXCHANGES = ("binance", "okx")


def replica_config(sim, postgres_config, clickhouse_config, mode: str) -> dict:
    exchanges = {name: {"ccxt_id": ccxt_id, "rate_limit": 10000, "mode": mode, "stream_interval": STREAM_INTERVAL,
                        "ccxt_options": sim.ccxt_options(ccxt_id)}
                 for name, ccxt_id in (("binance", "binanceusdm"), ("okx", "okx"))}
    exchanges["bybit"] = {"enabled": False}
    return {
        "exchange_configs": exchanges,
        "funding_history_days": 0,
        "postgres": {"enabled": True, "host": postgres_config.host, "port": postgres_config.port,
                     "user": postgres_config.user, "database": postgres_config.database},
        "clickhouse": {"enabled": True, "host": clickhouse_config.host, "port": clickhouse_config.port,
                       "database": clickhouse_config.database},
    }


def within(identities, start_ms: int, end_ms: int) -> set:
    return {i for i in identities if start_ms <= i[3] < end_ms}


async def postgres_rows(config) -> int:
    connection = await asyncpg.connect(host=config.host, port=config.port, user=config.user, database=config.database)
    try:
        return sum([await connection.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES.values()
                    if await connection.fetchval("SELECT to_regclass($1)", table)])
    finally:
        await connection.close()


async def clickhouse_rows(endpoint, config) -> int:
    client = await admin_client(endpoint)
    try:
        tables = {row[0] for row in (await client.query(
            f"SELECT name FROM system.tables WHERE database = '{config.database}'")).result_rows}
        return sum([(await client.query(f"SELECT count() FROM `{config.database}`.{table} FINAL")).result_rows[0][0]
                    for table in TABLES.values() if table in tables])
    finally:
        await client.close()


async def until_collecting(member, timeout: float = 60.0) -> None:
    """Every exchange of the daemon collecting: its streams up (stream mode) or polled (poll mode)."""
    def collecting(exchange: dict) -> bool:
        stream = exchange.get("stream")
        return (stream or {}).get("state") == "up" if exchange.get("mode") == "stream" \
            else exchange.get("last_success") is not None

    async with asyncio.timeout(timeout):
        while True:
            with urllib.request.urlopen(f"{member.url}/health", timeout=10) as response:
                exchanges = json.loads(response.read())["exchanges"].values()
            if exchanges and all(collecting(e) for e in exchanges):
                return
            await asyncio.sleep(0.2)


async def until_written_past(member, ts_ms: int, timeout: float = 30.0) -> None:
    """The daemon's SQLite file holds a ticker stamped `ts_ms` or later."""
    async with asyncio.timeout(timeout):
        while max((i[3] for i in sqlite_identities(member.database) if i[0] == "ticker"), default=0) < ts_ms:
            await asyncio.sleep(0.2)


async def run_replicas(tmp_path, sim, config: dict, *, together: float, alone: float = 0.0):
    """Two replicas of shard 1 of 2 for `together` seconds, then replica B is killed with kill -9
    and A runs `alone` seconds more; (A, B, window both ran fully, window A ran alone) in ms."""
    async with fleet(tmp_path, sim, [(1, 2), (1, 2)], **config) as (a, b):
        for member in (a, b):
            await until_collecting(member)
        # A new subscription's first frame comes with the next tick, off its channel's cadence
        # (binance markPrice@1s at a half second): it passes conflation as its window's first,
        # and that window's on-cadence frame is then superseded, in the replica that subscribed
        # mid-window only. The comparison starts once that window has passed for both.
        await asyncio.sleep(STREAM_INTERVAL + TICK)
        start = int(time.time() * 1000)
        await asyncio.sleep(together)
        both = (start, int(time.time() * 1000))
        await until_written_past(b, both[1])  # B's writers flushed the window into its SQLite file
        if alone:
            os.kill(b.process.pid, signal.SIGKILL)
            killed = int(time.time() * 1000)
            await asyncio.sleep(alone)
            solo = (killed, int(time.time() * 1000) - 1000)
        else:
            solo = (0, 0)
    return a, b, both, solo


async def test_two_stream_replicas_agree_on_the_identities_and_each_sink_keeps_one_row_for_each(
        tmp_path, simulator_factory, postgres_config, clickhouse_server, clickhouse_config,
        rabbitmq_config):  # noqa: F811
    sim = await simulator_factory(symbols=SYMBOLS, seed=41, tick=TICK)
    config = replica_config(sim, postgres_config, clickhouse_config, "stream")
    config["rabbitmq"] = {"enabled": True, "host": rabbitmq_config.host, "exchange": rabbitmq_config.exchange}
    async with bound_queue(rabbitmq_config, "#") as queue:
        a, b, both, solo = await run_replicas(tmp_path, sim, config, together=12.0, alone=8.0)
        messages = await drain(queue)
    seen_a, seen_b = within(sqlite_identities(a.database), *both), within(sqlite_identities(b.database), *both)
    assert seen_a and seen_b
    agreement = len(seen_a & seen_b) / len(seen_a | seen_b)
    assert agreement >= 0.99, (agreement, sorted(seen_a ^ seen_b)[:10])
    in_postgres = await postgres_identities(postgres_config)
    in_clickhouse = await clickhouse_identities(clickhouse_server, clickhouse_config)
    assert within(in_postgres, *both) == within(in_clickhouse, *both) == seen_a | seen_b
    assert await postgres_rows(postgres_config) == len(in_postgres)
    assert await clickhouse_rows(clickhouse_server, clickhouse_config) == len(in_clickhouse)
    # RabbitMQ: each identity both replicas recorded arrives twice, under one message_id
    ids: dict = {}
    for message in messages:
        body = json.loads(message.body)
        ids.setdefault((body["kind"], body["exchange"], body["symbol"], body["ts"]), []).append(message.message_id)
    assert all(len(ids[i]) == 2 and len(set(ids[i])) == 1 for i in seen_a & seen_b), \
        [ids.get(i) for i in seen_a & seen_b if len(ids.get(i, ())) != 2 or len(set(ids[i])) != 1][:5]
    # after B's kill -9, A alone kept every symbol of the shard flowing into the sinks: no ticker
    # gap longer than one stream_interval (records land on the exchange's ticks: + one tick)
    owned = {(exchange, symbol) for kind, exchange, symbol, _ in within(in_postgres, *both) if kind == "ticker"}
    gaps = longest_gaps(within(in_postgres, both[0], solo[1]), owned)
    assert len(owned) > 5 and max(gaps.values()) <= 1.0 + TICK, gaps


def longest_gaps(identities, owned) -> dict:
    """(exchange, symbol) -> the longest time in seconds between two of its tickers."""
    times: dict = {pair: [] for pair in owned}
    for kind, exchange, symbol, ts in identities:
        if kind == "ticker":
            times[(exchange, symbol)].append(ts)
    return {pair: max(b - a for a, b in zip(sorted(ts), sorted(ts)[1:])) / 1000 for pair, ts in times.items()}


async def test_two_poll_replicas_write_one_row_per_identity_both_saw(
        tmp_path, simulator_factory, postgres_config, clickhouse_server, clickhouse_config):  # noqa: F811
    # Ticks four times as long as the poll interval: both replicas see every snapshot however
    # their polls are phased (at TICK, a loaded machine phased them so they shared almost none).
    sim = await simulator_factory(symbols=SYMBOLS, seed=43, tick=4.0)
    config = replica_config(sim, postgres_config, clickhouse_config, "poll")
    a, b, both, _ = await run_replicas(tmp_path, sim, {**config, "ticker_interval": 1.0}, together=8.0)
    seen_a, seen_b = sqlite_identities(a.database), sqlite_identities(b.database)
    shared = seen_a & seen_b
    assert len(shared) > 20
    in_postgres = await postgres_identities(postgres_config)
    in_clickhouse = await clickhouse_identities(clickhouse_server, clickhouse_config)
    assert shared <= in_postgres and shared <= in_clickhouse
    assert in_postgres == in_clickhouse == seen_a | seen_b
    assert await postgres_rows(postgres_config) == len(in_postgres)
    assert await clickhouse_rows(clickhouse_server, clickhouse_config) == len(in_clickhouse)
