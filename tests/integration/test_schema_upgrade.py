"""A database created by the previous version is upgraded in place on start: new columns and the
`funding_settlements` table appear, every old row stays exactly as it was, new records land.

The CREATE TABLE statements below are copied verbatim from the previous version's sinks, so the
tests start from the very schema a deployed daemon has today."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from collector.config import DatabaseConfig, SQLiteConfig
from collector.records import FundingRate, FundingSettlement, Ticker
from collector.sinks.clickhouse import ClickHouseSink
from collector.sinks.postgres import PostgresSink
from collector.sinks.sqlite import SQLiteSink
from tests.support.clickhouse import admin_client, clickhouse_config, clickhouse_server  # noqa: F401
from tests.support.postgres import postgres_config  # noqa: F401

DATABASE = DatabaseConfig(timeout=10.0)
TS = 1_767_225_600_123

SQLITE_V1 = (
    'CREATE TABLE IF NOT EXISTS tickers (exchange TEXT NOT NULL, symbol TEXT NOT NULL, ts INTEGER NOT NULL, received_at INTEGER NOT NULL, last REAL, bid REAL, ask REAL, mark_price REAL, index_price REAL, high_24h REAL, low_24h REAL, base_volume_24h REAL, quote_volume_24h REAL, open_interest REAL, PRIMARY KEY (exchange, symbol, ts)) WITHOUT ROWID',  # noqa: E501
    'CREATE TABLE IF NOT EXISTS funding_rates (exchange TEXT NOT NULL, symbol TEXT NOT NULL, ts INTEGER NOT NULL, received_at INTEGER NOT NULL, funding_rate REAL NOT NULL, next_funding_time INTEGER, mark_price REAL, index_price REAL, interest_rate REAL, PRIMARY KEY (exchange, symbol, ts)) WITHOUT ROWID',  # noqa: E501
)
POSTGRES_V1 = (
    'CREATE TABLE IF NOT EXISTS tickers (exchange text COLLATE "C" NOT NULL, symbol text COLLATE "C" NOT NULL, ts timestamptz NOT NULL, received_at timestamptz NOT NULL, last double precision, bid double precision, ask double precision, mark_price double precision, index_price double precision, high_24h double precision, low_24h double precision, base_volume_24h double precision, quote_volume_24h double precision, open_interest double precision, PRIMARY KEY (exchange, symbol, ts))',  # noqa: E501
    'CREATE TABLE IF NOT EXISTS funding_rates (exchange text COLLATE "C" NOT NULL, symbol text COLLATE "C" NOT NULL, ts timestamptz NOT NULL, received_at timestamptz NOT NULL, funding_rate double precision NOT NULL, next_funding_time timestamptz, mark_price double precision, index_price double precision, interest_rate double precision, PRIMARY KEY (exchange, symbol, ts))',  # noqa: E501
)
CLICKHOUSE_V1 = (
    "CREATE TABLE IF NOT EXISTS `DB`.`tickers` (\n    `exchange` LowCardinality(String),\n    `symbol` LowCardinality(String),\n    `ts` DateTime64(3, 'UTC'),\n    `received_at` DateTime64(3, 'UTC'),\n    `last` Nullable(Float64),\n    `bid` Nullable(Float64),\n    `ask` Nullable(Float64),\n    `mark_price` Nullable(Float64),\n    `index_price` Nullable(Float64),\n    `high_24h` Nullable(Float64),\n    `low_24h` Nullable(Float64),\n    `base_volume_24h` Nullable(Float64),\n    `quote_volume_24h` Nullable(Float64),\n    `open_interest` Nullable(Float64)\n)\nENGINE = ReplacingMergeTree(received_at)\nPARTITION BY toYYYYMM(ts)\nORDER BY (exchange, symbol, ts)",  # noqa: E501
    "CREATE TABLE IF NOT EXISTS `DB`.`funding_rates` (\n    `exchange` LowCardinality(String),\n    `symbol` LowCardinality(String),\n    `ts` DateTime64(3, 'UTC'),\n    `received_at` DateTime64(3, 'UTC'),\n    `funding_rate` Float64,\n    `next_funding_time` Nullable(DateTime64(3, 'UTC')),\n    `mark_price` Nullable(Float64),\n    `index_price` Nullable(Float64),\n    `interest_rate` Nullable(Float64)\n)\nENGINE = ReplacingMergeTree(received_at)\nPARTITION BY toYYYYMM(ts)\nORDER BY (exchange, symbol, ts)",  # noqa: E501
)
# Rows as the previous version wrote them: (table, values in its column order).
OLD_ROWS = 50


def old_tickers() -> list[tuple]:
    return [("binance", f"C{n}/USDT:USDT", TS + n, TS + n + 5, 100.0 + n, 99.5, 100.5, None, None,
             110.0, 90.0, 1e6, 1e8, None) for n in range(OLD_ROWS)]


def old_funding() -> list[tuple]:
    return [("okx", f"C{n}/USDT:USDT", TS + n, TS + n + 7, 0.0001 * n, TS + 28_800_000, 100.0,
             100.1, 0.0001) for n in range(OLD_ROWS)]


NEW_RECORDS = [
    Ticker("binance", "C0/USDT:USDT", TS + 10_000, TS + 10_005, last=101.0, open_interest=5.0),
    FundingRate("okx", "C0/USDT:USDT", TS + 10_000, TS + 10_007, 0.0002, TS + 28_800_000,
                funding_interval_hours=4.0, predicted_funding_rate=0.00015),
    FundingSettlement("okx", "C0/USDT:USDT", TS - 28_800_000, TS + 10_007, 0.0001, 99.0),
]


async def test_sqlite_database_of_the_previous_version_keeps_every_row_and_takes_new_fields(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        for statement in SQLITE_V1:
            connection.execute(statement)
        connection.executemany(f"INSERT INTO tickers VALUES ({', '.join('?' * 14)})", old_tickers())
        connection.executemany(f"INSERT INTO funding_rates VALUES ({', '.join('?' * 9)})", old_funding())
    async with SQLiteSink(SQLiteConfig(path=path), DATABASE) as sink:
        await sink.write(NEW_RECORDS)
    async with SQLiteSink(SQLiteConfig(path=path), DATABASE):
        pass  # a second start finds nothing to add
    with sqlite3.connect(path) as connection:
        tickers = connection.execute(
            "SELECT * FROM tickers WHERE ts < ? ORDER BY ts", (TS + 10_000,)).fetchall()
        funding = connection.execute(
            "SELECT * FROM funding_rates WHERE ts < ? ORDER BY ts", (TS + 10_000,)).fetchall()
        new_funding = connection.execute(
            "SELECT funding_interval_hours, predicted_funding_rate FROM funding_rates WHERE ts = ?",
            (TS + 10_000,)).fetchall()
        settlements = connection.execute("SELECT * FROM funding_settlements").fetchall()
    assert tickers == old_tickers()
    assert funding == [row + (None, None) for row in old_funding()]
    assert new_funding == [(4.0, 0.00015)]
    assert settlements == [("okx", "C0/USDT:USDT", TS - 28_800_000, TS + 10_007, 0.0001, 99.0)]


async def test_postgres_database_of_the_previous_version_keeps_every_row_and_takes_new_fields(
        postgres_config) -> None:  # noqa: F811
    connection = await asyncpg.connect(host=postgres_config.host, port=postgres_config.port,
                                       user=postgres_config.user, database=postgres_config.database)
    try:
        for statement in POSTGRES_V1:
            await connection.execute(statement)
        await connection.execute(
            "INSERT INTO tickers SELECT 'binance', 'C' || n || '/USDT:USDT',"
            " to_timestamp(n), to_timestamp(n), n FROM generate_series(1, $1) AS n", OLD_ROWS)
        before = await connection.fetch("SELECT * FROM tickers ORDER BY symbol")
        async with PostgresSink(postgres_config, DATABASE) as sink:
            await sink.write(NEW_RECORDS)
        async with PostgresSink(postgres_config, DATABASE):
            pass
        after = await connection.fetch("SELECT * FROM tickers WHERE ts < to_timestamp(1000) ORDER BY symbol")
        funding = await connection.fetch(
            "SELECT funding_interval_hours, predicted_funding_rate FROM funding_rates")
        settlements = await connection.fetch("SELECT funding_rate, mark_price FROM funding_settlements")
    finally:
        await connection.close()
    assert [tuple(row) for row in after] == [tuple(row) for row in before]
    assert [tuple(row) for row in funding] == [(4.0, 0.00015)]
    assert [tuple(row) for row in settlements] == [(0.0001, 99.0)]


async def test_clickhouse_database_of_the_previous_version_keeps_every_row_and_takes_new_fields(
        clickhouse_server, clickhouse_config) -> None:  # noqa: F811
    database = clickhouse_config.database
    client = await admin_client(clickhouse_server)
    try:
        await client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        for statement in CLICKHOUSE_V1:
            await client.command(statement.replace("`DB`", f"`{database}`"))
        await client.command(
            f"INSERT INTO `{database}`.funding_rates (exchange, symbol, ts, received_at, funding_rate)"
            f" SELECT 'okx', concat('C', toString(number), '/USDT:USDT'),"
            f" toDateTime64(number, 3, 'UTC'), toDateTime64(number, 3, 'UTC'), number / 10000"
            f" FROM numbers({OLD_ROWS})")
        before = (await client.query(
            f"SELECT * FROM `{database}`.funding_rates ORDER BY symbol")).result_rows
        async with ClickHouseSink(clickhouse_config, DATABASE) as sink:
            await sink.write(NEW_RECORDS)
        async with ClickHouseSink(clickhouse_config, DATABASE):
            pass
        after = (await client.query(
            f"SELECT exchange, symbol, ts, received_at, funding_rate, next_funding_time, mark_price,"
            f" index_price, interest_rate FROM `{database}`.funding_rates FINAL"
            f" WHERE funding_interval_hours IS NULL ORDER BY symbol")).result_rows
        new = (await client.query(
            f"SELECT funding_interval_hours, predicted_funding_rate FROM `{database}`.funding_rates"
            f" WHERE funding_interval_hours IS NOT NULL")).result_rows
        settlements = (await client.query(
            f"SELECT funding_rate, mark_price FROM `{database}`.funding_settlements")).result_rows
    finally:
        await client.close()
    assert after == before and len(after) == OLD_ROWS
    assert new == [(4.0, 0.00015)]
    assert settlements == [(0.0001, 99.0)]
