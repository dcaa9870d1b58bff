"""`--validate-config --online` against the real servers: each enabled sink answers OK or FAIL with
what start would find, and nothing is created."""

from __future__ import annotations

import asyncpg

from collector.config import AppConfig, DatabaseConfig, SQLiteConfig
from collector.ops.online import online_checks
from collector.sinks.clickhouse import ClickHouseSink
from collector.sinks.postgres import PostgresSink
from collector.sinks.sqlite import SQLiteSink

DATABASE = DatabaseConfig(connect_timeout=5.0, timeout=10.0)


def app_config(**sinks) -> AppConfig:
    return AppConfig.model_validate({"exchange_configs": {"binance": {}}, "sqlite": {"enabled": False},
                                     "database": DATABASE.model_dump(), **sinks})


async def test_sql_sinks_with_their_tables_are_ok_and_fresh_ones_say_what_start_creates(
        tmp_path, postgres_config, clickhouse_config) -> None:
    sqlite = SQLiteConfig(enabled=True, path=tmp_path / "collector.db")
    config = app_config(postgres=postgres_config.model_dump(mode="json") | {"password": ""},
                        clickhouse=clickhouse_config.model_dump(mode="json") | {"password": ""},
                        sqlite=sqlite.model_dump(mode="json"))
    fresh = await online_checks(config, timeout=30.0)
    assert [(c.name, c.ok) for c in fresh] == [("sink clickhouse", True), ("sink postgres", True),
                                              ("sink sqlite", True)], fresh
    assert all("missing (created at start)" in c.detail for c in fresh), fresh
    assert not (tmp_path / "collector.db").exists(), "checked, not created"

    for sink in (PostgresSink(postgres_config, DATABASE), ClickHouseSink(clickhouse_config, DATABASE),
                 SQLiteSink(sqlite, DATABASE)):
        async with sink:  # start creates the tables
            pass
    ready = await online_checks(config, timeout=30.0)
    assert all(c.ok and "tickers ok; funding_rates ok; funding_settlements ok" in c.detail for c in ready), ready


async def test_a_table_without_a_key_column_fails_naming_it(postgres_config) -> None:
    connection = await asyncpg.connect(host=postgres_config.host, port=postgres_config.port,
                                       user=postgres_config.user, database=postgres_config.database)
    try:
        await connection.execute("CREATE TABLE tickers (exchange text, symbol text, last double precision)")
    finally:
        await connection.close()
    [check] = await online_checks(app_config(postgres=postgres_config.model_dump(mode="json") | {"password": ""}),
                                  timeout=30.0)
    assert not check.ok
    assert "table tickers lacks the key column(s) ts, received_at" in check.detail


async def test_an_unreachable_server_is_one_fail_line_with_the_reason(postgres_config) -> None:
    unreachable = postgres_config.model_dump(mode="json") | {"password": "", "port": 9}
    [check] = await online_checks(app_config(postgres=unreachable), timeout=10.0)
    assert check.name == "sink postgres" and not check.ok and check.detail
