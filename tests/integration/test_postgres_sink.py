"""PostgresSink against the real server: exact rows, idempotence, schema, errors and outages."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import SecretStr

from collector.config import DatabaseConfig, PostgresConfig
from collector.errors import ErrorCode, SinkError
from collector.records import RECORD_TYPES, TABLES, Record, columns
from collector.sinks.postgres import PostgresSink
from tests.support.records import mixed_records
from tests.support.tcp_proxy import TcpProxy

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DATABASE = DatabaseConfig(timeout=10.0, connection_pool_size=4)


def _ms(value: datetime | None) -> int | None:
    return None if value is None else (value - EPOCH) // timedelta(milliseconds=1)


async def read_back(config: PostgresConfig) -> list[Record]:
    """Every row of both tables as records, times converted to ms exactly (no float)."""
    connection = await asyncpg.connect(host=config.host, port=config.port, user=config.user,
                                       database=config.database)
    try:
        records: list[Record] = []
        for kind, table in TABLES.items():
            for row in await connection.fetch(f"SELECT {', '.join(columns(kind))} FROM {table}"):
                values = {name: (_ms(value) if isinstance(value, datetime) else value)
                          for name, value in row.items()}
                records.append(RECORD_TYPES[kind](**values))
        return records
    finally:
        await connection.close()


async def write_in_batches(sink: PostgresSink, records: list[Record], size: int = 10_000) -> None:
    for start in range(0, len(records), size):
        await sink.write(records[start:start + size])


async def test_100k_mixed_records_become_exactly_equal_rows_and_rewriting_changes_nothing(
        postgres_config: PostgresConfig) -> None:
    records = mixed_records(100_000)
    async with PostgresSink(postgres_config, DATABASE) as sink:
        await write_in_batches(sink, records)
        first = await read_back(postgres_config)
        await write_in_batches(sink, records)
        second = await read_back(postgres_config)
    assert len(first) == 100_000
    assert sorted(first, key=repr) == sorted(records, key=repr)
    assert len(second) == 100_000


async def test_a_batch_containing_duplicates_of_itself_is_written_once(
        postgres_config: PostgresConfig) -> None:
    records = mixed_records(500)
    async with PostgresSink(postgres_config, DATABASE) as sink:
        await sink.write(records + records[::-1] + records[:10])
    assert sorted(await read_back(postgres_config), key=repr) == sorted(records, key=repr)


async def test_a_batch_overlapping_rows_already_written_adds_only_the_new_ones(
        postgres_config: PostgresConfig) -> None:
    records = mixed_records(1_000)
    async with PostgresSink(postgres_config, DATABASE) as sink:
        await sink.write(records[:600])
        await sink.write(records[400:])
    assert len(await read_back(postgres_config)) == 1_000


async def test_open_creates_missing_tables_with_the_contract_schema(
        postgres_config: PostgresConfig) -> None:
    async with PostgresSink(postgres_config, DATABASE):
        pass
    connection = await asyncpg.connect(host=postgres_config.host, user=postgres_config.user,
                                       database=postgres_config.database)
    try:
        for kind, table in TABLES.items():
            found = await connection.fetch(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = $1 ORDER BY ordinal_position", table)
            assert tuple(row["column_name"] for row in found) == columns(kind)
            types = {row["column_name"]: row["data_type"] for row in found}
            assert types["ts"] == types["received_at"] == "timestamp with time zone"
            assert types["exchange"] == types["symbol"] == "text"
            assert types["mark_price"] == "double precision"
            key = await connection.fetchval(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = $1::regclass AND contype = 'p'", table)
            assert key == "PRIMARY KEY (exchange, symbol, ts)"
        funding_types = await connection.fetch(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'funding_rates' AND column_name = 'next_funding_time'")
        assert funding_types[0]["data_type"] == "timestamp with time zone"
    finally:
        await connection.close()


async def test_open_is_idempotent_and_keeps_existing_rows(postgres_config: PostgresConfig) -> None:
    records = mixed_records(100)
    async with PostgresSink(postgres_config, DATABASE) as sink:
        await sink.open()
        await sink.write(records)
    async with PostgresSink(postgres_config, DATABASE) as sink:
        await sink.open()
    assert len(await read_back(postgres_config)) == 100


async def test_write_opens_the_sink_when_it_was_not_opened(postgres_config: PostgresConfig) -> None:
    sink = PostgresSink(postgres_config, DATABASE)
    try:
        await sink.write(mixed_records(10))
    finally:
        await sink.close()
        await sink.close()
    assert len(await read_back(postgres_config)) == 10


async def test_unreachable_server_raises_db_001_without_the_password() -> None:
    config = PostgresConfig(enabled=True, host="127.0.0.1", port=1, user="postgres",
                            password="hunter2-secret", database="nowhere")
    sink = PostgresSink(config, DatabaseConfig(timeout=2.0))
    with pytest.raises(SinkError) as caught:
        await sink.write(mixed_records(1))
    assert caught.value.code == ErrorCode.DB_001
    assert "127.0.0.1:1" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(sink)
    await sink.close()


async def test_wrong_database_raises_db_001_naming_it(postgres_config: PostgresConfig) -> None:
    config = postgres_config.model_copy(update={"database": postgres_config.database + "_absent",
                                                "password": SecretStr("hunter2-secret")})
    with pytest.raises(SinkError) as caught:
        async with PostgresSink(config, DATABASE):
            pass
    assert caught.value.code == ErrorCode.DB_001
    assert config.database in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_after_a_cut_the_write_fails_and_after_restore_it_succeeds_without_duplicates(
        postgres_config: PostgresConfig) -> None:
    before, during = mixed_records(300), mixed_records(300, start=300)
    async with TcpProxy(postgres_config.host, postgres_config.port) as proxy:
        config = postgres_config.model_copy(update={"port": proxy.port})
        async with PostgresSink(config, DATABASE) as sink:
            await sink.write(before)
            await proxy.cut()
            with pytest.raises(SinkError) as caught:
                await sink.write(during)
            assert caught.value.code == ErrorCode.DB_001
            await proxy.restore()
            await sink.write(before + during)  # the writer replays: some rows are there already
    assert sorted(await read_back(postgres_config), key=repr) == sorted(before + during, key=repr)


async def test_a_cut_in_the_middle_of_a_write_reports_the_lost_connection_and_the_next_write_works(
        postgres_config: PostgresConfig) -> None:
    big, later = mixed_records(200_000), mixed_records(100, start=200_000)
    async with TcpProxy(postgres_config.host, postgres_config.port) as proxy:
        config = postgres_config.model_copy(update={"port": proxy.port})
        async with PostgresSink(config, DATABASE) as sink:
            # 1 MB into the copy the proxy holds the rest: the write is certainly in the middle
            # when the cut comes, on a fast machine or a slow one.
            stalled = proxy.stall_after(1_000_000)
            write = asyncio.create_task(sink.write(big))
            async with asyncio.timeout(60):
                await stalled.wait()
            assert not write.done(), "the write should still be copying rows when the cut comes"
            await proxy.cut()
            with pytest.raises(SinkError) as caught:
                await write
            assert caught.value.code == ErrorCode.DB_001
            # The reason is the lost connection, not a complaint about our own cleanup of it.
            assert "released back to the pool" not in str(caught.value)
            await proxy.restore()
            await sink.write(later)
    assert sorted(await read_back(postgres_config), key=repr) == sorted(later, key=repr)


async def test_a_stalled_server_fails_the_write_within_the_timeout_and_recovers(
        postgres_config: PostgresConfig) -> None:
    timeout = 1.0
    records = mixed_records(200)
    async with TcpProxy(postgres_config.host, postgres_config.port) as proxy:
        config = postgres_config.model_copy(update={"port": proxy.port})
        async with PostgresSink(config, DatabaseConfig(timeout=timeout)) as sink:
            await sink.write(records[:100])
            await proxy.stall()
            started = time.monotonic()
            with pytest.raises(SinkError) as caught:
                await sink.write(records[100:])
            assert time.monotonic() - started < 3 * timeout  # the timeout, not a hang
            assert caught.value.code == ErrorCode.DB_001
            await proxy.restore()
            await sink.write(records[100:])
    assert len(await read_back(postgres_config)) == 200


async def test_an_outage_adds_no_asyncpg_reconnect_warnings_of_its_own(
    postgres_config: PostgresConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer logs an outage once (sink_down); asyncpg must not add a traceback per attempt
    to restore a pool's connection floor while the server is away."""
    async with TcpProxy(postgres_config.host, postgres_config.port) as proxy:
        config = postgres_config.model_copy(update={"port": proxy.port})
        sink = PostgresSink(config, DatabaseConfig(timeout=2.0, connect_timeout=1.0))
        try:
            await sink.write(mixed_records(10))
            with caplog.at_level("WARNING", logger="asyncpg"):
                await proxy.cut()
                for _ in range(3):
                    with pytest.raises(SinkError):
                        await sink.write(mixed_records(10, start=10))
                    await asyncio.sleep(1.0)
                await proxy.restore()
                await sink.write(mixed_records(10, start=10))
        finally:
            await sink.close()
    assert [r for r in caplog.records if r.name.startswith("asyncpg")] == []
