"""The ClickHouse test server speaks ClickHouse's HTTP interface well enough for clickhouse-connect.

These run against whatever `clickhouse_server` provides (CLICKHOUSE_TEST_URL or the chDB-backed
server), so a real ClickHouse passes them too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import clickhouse_connect
import lz4.frame
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.summary import QuerySummary

from tests.support.clickhouse import ClickHouseEndpoint, admin_client

ROWS = 400_000


@pytest.fixture
def database(clickhouse_server: ClickHouseEndpoint) -> Iterator[str]:  # noqa: F811
    name = f"test_server_{uuid.uuid4().hex[:12]}"
    client = sync_client(clickhouse_server)
    client.command(f"CREATE DATABASE `{name}`")
    client.command(f"CREATE TABLE `{name}`.numbers (n UInt64, label LowCardinality(String), "
                   "x Nullable(Float64)) ENGINE = MergeTree ORDER BY n")
    yield name
    client.command(f"DROP DATABASE IF EXISTS `{name}`")
    client.close()


@pytest.fixture
async def client(clickhouse_server: ClickHouseEndpoint) -> AsyncIterator:  # noqa: F811
    client = await admin_client(clickhouse_server)
    yield client
    await client.close()


def sync_client(endpoint: ClickHouseEndpoint, **options: object):
    return clickhouse_connect.get_client(
        host=endpoint.host, port=endpoint.port, username=endpoint.username,
        password=endpoint.password, secure=endpoint.secure, **options)


def numbers(count: int) -> list[list]:
    return [list(range(count)), [f"label-{n % 97}" for n in range(count)],
            [None if n % 5 == 0 else n / 7 for n in range(count)]]


def basic_auth(endpoint: ClickHouseEndpoint) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(endpoint.username, endpoint.password)}


def url(endpoint: ClickHouseEndpoint) -> str:
    return f"{'https' if endpoint.secure else 'http'}://{endpoint.host}:{endpoint.port}/"


async def test_ping_answers_ok(clickhouse_server: ClickHouseEndpoint) -> None:  # noqa: F811
    async with aiohttp.ClientSession() as session:
        async with session.get(url(clickhouse_server) + "ping") as response:
            assert response.status == 200
            assert await response.text() == "Ok.\n"


@pytest.mark.parametrize("compress", ["lz4", "zstd", False])
def test_sync_insert_of_many_blocks_stores_every_row(
        clickhouse_server: ClickHouseEndpoint, database: str, compress: str | bool) -> None:  # noqa: F811
    client = sync_client(clickhouse_server, compress=compress)
    context = client.create_insert_context(f"{database}.numbers", ["n", "label", "x"],
                                           data=numbers(ROWS), column_oriented=True)
    assert context.block_row_count < ROWS / 2, "the insert must span several blocks (frames)"

    summary = client.insert(context=context)

    assert summary.written_rows == ROWS
    totals = client.query(f"SELECT count(), sum(n), countIf(x IS NULL) FROM {database}.numbers")
    assert totals.result_rows == [(ROWS, ROWS * (ROWS - 1) // 2, ROWS // 5)]
    client.close()


async def test_async_insert_of_many_blocks_stores_every_row(client, database: str) -> None:
    summary = await client.insert("numbers", numbers(ROWS), column_names=["n", "label", "x"],
                                  database=database, column_oriented=True)

    assert summary.written_rows == ROWS
    assert await client.command(f"SELECT count() FROM {database}.numbers") == ROWS


async def test_values_read_back_equal_those_inserted(client, database: str) -> None:
    data = numbers(1000)
    await client.insert("numbers", data, column_names=["n", "label", "x"], database=database,
                        column_oriented=True)

    result = await client.query(f"SELECT n, label, x FROM {database}.numbers ORDER BY n")

    assert [list(column) for column in result.result_columns] == data


async def test_two_lz4_frames_in_one_body_both_count(
        clickhouse_server: ClickHouseEndpoint, database: str) -> None:  # noqa: F811
    body = (lz4.frame.compress(f"INSERT INTO {database}.numbers (n, label) FORMAT CSV\n1,a\n".encode())
            + lz4.frame.compress(b"2,b\n3,c\n"))
    async with aiohttp.ClientSession(headers=basic_auth(clickhouse_server)) as session:
        async with session.post(url(clickhouse_server), data=body,
                                headers={"Content-Encoding": "lz4"}) as response:
            assert response.status == 200, await response.text()
        async with session.get(url(clickhouse_server), params={
                "query": f"SELECT count() FROM {database}.numbers"}) as response:
            assert await response.text() == "3\n"


async def test_a_body_cut_inside_a_frame_is_refused_and_stores_nothing(
        clickhouse_server: ClickHouseEndpoint, database: str) -> None:  # noqa: F811
    frame = lz4.frame.compress(f"INSERT INTO {database}.numbers (n, label) FORMAT CSV\n1,a\n".encode())
    async with aiohttp.ClientSession(headers=basic_auth(clickhouse_server)) as session:
        async with session.post(url(clickhouse_server), data=frame[:-6],
                                headers={"Content-Encoding": "lz4"}) as response:
            assert response.status >= 400
            assert response.headers["X-ClickHouse-Exception-Code"]
        async with session.get(url(clickhouse_server), params={
                "query": f"SELECT count() FROM {database}.numbers"}) as response:
            assert await response.text() == "0\n"


async def test_bind_parameters_and_settings_apply_to_their_query_only(client) -> None:
    assert await client.command("SELECT {a:UInt32} + {b:UInt32}", parameters={"a": 40, "b": 2}) == 42
    assert await client.command("SELECT getSetting('max_threads')", settings={"max_threads": 3}) == 3
    assert await client.command("SELECT getSetting('max_threads')") != 3


async def test_command_tells_a_statement_from_an_empty_result(client, database: str) -> None:
    # A query whose result set has no rows is an empty result, not a statement's summary...
    assert await client.command(f"SELECT n FROM {database}.numbers") == ""
    # ...while a statement that returns no result set answers with what it did.
    inserted = await client.command(
        f"INSERT INTO {database}.numbers SELECT number, 'x', NULL FROM numbers(5)")
    assert isinstance(inserted, QuerySummary) and inserted.written_rows == 5
    assert await client.command(f"SELECT count() FROM {database}.numbers") == 5
    created = await client.command(f"CREATE TABLE {database}.empty (n UInt8) ENGINE = Memory")
    assert isinstance(created, QuerySummary) and created.written_rows == 0
    assert await client.command(f"SELECT n FROM {database}.empty") == ""


async def test_final_keeps_one_row_per_key_in_a_replacing_merge_tree(client, database: str) -> None:
    await client.command(f"CREATE TABLE {database}.latest (k UInt32, v UInt32, version UInt32) "
                         "ENGINE = ReplacingMergeTree(version) ORDER BY k")
    for version in (1, 2, 3):
        await client.insert("latest", [[1, 2], [version * 10] * 2, [version] * 2],
                            column_names=["k", "v", "version"], database=database,
                            column_oriented=True)

    rows = (await client.query(f"SELECT k, v FROM {database}.latest FINAL ORDER BY k")).result_rows

    assert rows == [(1, 30), (2, 30)]


async def test_errors_carry_the_clickhouse_error_code(client) -> None:
    with pytest.raises(DatabaseError, match="code: 81"):
        await client.query("SELECT * FROM no_such_database_here.no_such_table")
    with pytest.raises(DatabaseError, match="code: 62"):
        await client.command("SELEKT 1")


async def test_a_wrong_password_is_refused(clickhouse_server: ClickHouseEndpoint) -> None:  # noqa: F811
    with pytest.raises(DatabaseError, match="516"):
        await clickhouse_connect.get_async_client(
            host=clickhouse_server.host, port=clickhouse_server.port,
            username=clickhouse_server.username, password="not-the-password",
            secure=clickhouse_server.secure)
