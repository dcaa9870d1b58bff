"""The ClickHouse sink against a ClickHouse server (real, or the chDB-backed test server)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from collector.config import ClickHouseConfig, DatabaseConfig
from collector.errors import ErrorCode, SinkError
from collector.records import FundingRate, Record, Ticker, columns
from collector.sinks.clickhouse import ClickHouseSink
from tests.support.clickhouse import ChdbServerProcess, ClickHouseEndpoint, admin_client, require_chdb

PASSWORD = "Sup3r-Secret-pw"
BATCH = 10_000
_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def make_records(count: int, *, seed: int = 7) -> list[Record]:
    """Tickers and funding rates of 3 exchanges x 100 symbols, one record per second each."""
    rng = random.Random(seed)
    symbols = [f"COIN{n}/USDT:USDT" for n in range(100)]
    records: list[Record] = []
    for n in range(count):
        exchange, symbol = ("binance", "bybit", "okx")[n % 3], symbols[n // 3 % 100]
        ts = _START_MS + (n // 300) * 1000 + rng.randrange(1000)
        received_at = ts + rng.randrange(1, 500)
        price = rng.uniform(0.0001, 100_000)
        if n % 10 == 9:
            records.append(FundingRate(
                exchange, symbol, ts, received_at, funding_rate=rng.uniform(-0.003, 0.003),
                next_funding_time=None if n % 7 == 0 else ts - ts % 28_800_000 + 28_800_000,
                mark_price=price, index_price=maybe(rng, price * 0.999),
                interest_rate=maybe(rng, 0.0001)))
        else:
            records.append(Ticker(
                exchange, symbol, ts, received_at, last=price, bid=maybe(rng, price * 0.9999),
                ask=maybe(rng, price * 1.0001), mark_price=maybe(rng, price),
                index_price=maybe(rng, price), high_24h=price * 1.05, low_24h=price * 0.95,
                base_volume_24h=maybe(rng, rng.uniform(0, 1e9)),
                quote_volume_24h=maybe(rng, rng.uniform(0, 1e12)),
                open_interest=maybe(rng, rng.uniform(0, 1e7))))
    return records


def maybe(rng: random.Random, value: float) -> float | None:
    return None if rng.random() < 0.2 else value


def rows_of(records: list[Record], kind: str) -> list[tuple]:
    return sorted(tuple(getattr(r, c) for c in columns(kind)) for r in records if r.kind == kind)


async def write_in_batches(sink: ClickHouseSink, records: list[Record]) -> None:
    for start in range(0, len(records), BATCH):
        await sink.write(records[start:start + BATCH])


async def stored_rows(endpoint: ClickHouseEndpoint, database: str, kind: str) -> list[tuple]:
    """Every row of the kind's table after deduplication, times as UTC ms integers."""
    table = {"ticker": "tickers", "funding_rate": "funding_rates"}[kind]
    times = {"ts", "received_at", "next_funding_time"}
    select = ", ".join(f"toUnixTimestamp64Milli({c})" if c in times else c for c in columns(kind))
    client = await admin_client(endpoint)
    try:
        result = await client.query(f"SELECT {select} FROM {database}.{table} FINAL")
    finally:
        await client.close()
    return sorted(tuple(row) for row in result.result_rows)


async def final_counts(endpoint: ClickHouseEndpoint, database: str) -> tuple[int, int]:
    client = await admin_client(endpoint)
    try:
        tickers = await client.command(f"SELECT count() FROM {database}.tickers FINAL")
        funding = await client.command(f"SELECT count() FROM {database}.funding_rates FINAL")
    finally:
        await client.close()
    return tickers, funding


@pytest.fixture
async def sink(clickhouse_config: ClickHouseConfig) -> AsyncIterator[ClickHouseSink]:  # noqa: F811
    async with ClickHouseSink(clickhouse_config, DatabaseConfig(timeout=30)) as sink:
        yield sink


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return make_records(100_000)


async def test_open_creates_the_tables_of_the_design(
        sink: ClickHouseSink, clickhouse_server: ClickHouseEndpoint,  # noqa: F811
        clickhouse_config: ClickHouseConfig) -> None:  # noqa: F811
    client = await admin_client(clickhouse_server)
    tables = await client.query(
        "SELECT name, engine_full, sorting_key, partition_key FROM system.tables "
        "WHERE database = {db:String} ORDER BY name", parameters={"db": clickhouse_config.database})
    types = await client.query(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} "
        "AND table = 'funding_rates' ORDER BY position", parameters={"db": clickhouse_config.database})
    await client.close()

    assert [row[0] for row in tables.result_rows] == ["funding_rates", "funding_settlements", "tickers"]
    for name, engine, sorting_key, partition_key in tables.result_rows:
        assert engine.startswith("ReplacingMergeTree(received_at)"), name
        assert sorting_key == "exchange, symbol, ts"
        assert partition_key == "toYYYYMM(ts)"
    assert [(name, type_) for _, name, type_ in types.result_rows] == [
        ("exchange", "LowCardinality(String)"), ("symbol", "LowCardinality(String)"),
        ("ts", "DateTime64(3, 'UTC')"), ("received_at", "DateTime64(3, 'UTC')"),
        ("funding_rate", "Float64"), ("next_funding_time", "Nullable(DateTime64(3, 'UTC'))"),
        ("mark_price", "Nullable(Float64)"), ("index_price", "Nullable(Float64)"),
        ("interest_rate", "Nullable(Float64)"), ("funding_interval_hours", "Nullable(Float64)"),
        ("predicted_funding_rate", "Nullable(Float64)")]


async def test_100k_records_are_stored_once_each_with_the_values_sent(
        sink: ClickHouseSink, records: list[Record], clickhouse_server: ClickHouseEndpoint,  # noqa: F811
        clickhouse_config: ClickHouseConfig) -> None:  # noqa: F811
    await write_in_batches(sink, records)

    assert await final_counts(clickhouse_server, clickhouse_config.database) == (90_000, 10_000)
    for kind in ("ticker", "funding_rate"):
        assert await stored_rows(clickhouse_server, clickhouse_config.database, kind) == rows_of(
            records, kind)


async def test_writing_the_same_100k_records_again_changes_no_final_count(
        sink: ClickHouseSink, records: list[Record], clickhouse_server: ClickHouseEndpoint,  # noqa: F811
        clickhouse_config: ClickHouseConfig) -> None:  # noqa: F811
    await write_in_batches(sink, records)
    await write_in_batches(sink, records[::-1])

    assert await final_counts(clickhouse_server, clickhouse_config.database) == (90_000, 10_000)
    assert await stored_rows(clickhouse_server, clickhouse_config.database, "funding_rate") == (
        rows_of(records, "funding_rate"))


async def test_open_is_idempotent_and_keeps_existing_rows(
        sink: ClickHouseSink, clickhouse_server: ClickHouseEndpoint,  # noqa: F811
        clickhouse_config: ClickHouseConfig) -> None:  # noqa: F811
    await sink.write(make_records(1000))
    await sink.open()
    async with ClickHouseSink(clickhouse_config, DatabaseConfig()) as second:
        await second.open()
        await second.write(make_records(2000)[1000:])

    assert await final_counts(clickhouse_server, clickhouse_config.database) == (1800, 200)


async def test_a_wrong_password_raises_db_001_without_the_password(
        clickhouse_server: ClickHouseEndpoint, clickhouse_config: ClickHouseConfig) -> None:  # noqa: F811
    config = clickhouse_config.model_copy(update={"password": SecretStr(PASSWORD)})
    sink = ClickHouseSink(config, DatabaseConfig(timeout=10))

    for attempt in (sink.open(), sink.write(make_records(10))):
        with pytest.raises(SinkError) as raised:
            await attempt
        assert raised.value.code is ErrorCode.DB_001
        assert "516" in str(raised.value)  # AUTHENTICATION_FAILED, named by the server
        assert PASSWORD not in str(raised.value) and PASSWORD not in repr(raised.value.args)
    await sink.close()


async def test_an_unreachable_port_raises_db_001_without_the_password() -> None:
    config = ClickHouseConfig(host="127.0.0.1", port=closed_port(), password=SecretStr(PASSWORD))
    sink = ClickHouseSink(config, DatabaseConfig(timeout=5))

    with pytest.raises(SinkError) as raised:
        await sink.write(make_records(10))

    assert raised.value.code is ErrorCode.DB_001
    assert f"127.0.0.1:{config.port}" in str(raised.value)
    assert PASSWORD not in str(raised.value)
    await sink.close()


async def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    sink = ClickHouseSink(ClickHouseConfig(host="127.0.0.1", port=port),
                          DatabaseConfig(timeout=1, connect_timeout=1))
    try:
        async with asyncio.timeout(5):
            with pytest.raises(SinkError, match=rf"ClickHouse connect at 127.0.0.1:{port}/crypto_data failed: "
                                                r".*(no answer within 1 s|Timeout)") as raised:
                await sink.write(make_records(10))
        assert raised.value.code is ErrorCode.DB_001
    finally:
        await sink.close()
        silent.close()


async def test_the_sink_recovers_after_the_server_is_killed_and_restarted(tmp_path: Path) -> None:
    require_chdb()
    server = ChdbServerProcess(tmp_path / "data")
    endpoint = server.start()
    records = make_records(3000)
    sink = ClickHouseSink(endpoint.config("crypto_data"), DatabaseConfig(timeout=10))
    try:
        await sink.write(records[:1000])
        server.kill()
        with pytest.raises(SinkError) as raised:
            await sink.write(records[1000:2000])
        assert raised.value.code is ErrorCode.DB_001

        server.start()  # same port, same data directory
        await sink.write(records[1000:2000])
        server.kill()
        server.start()  # the sink's pooled connection is now stale; it must not matter
        await sink.write(records[2000:])

        assert await final_counts(endpoint, "crypto_data") == (2700, 300)
    finally:
        await sink.close()
        server.stop()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
