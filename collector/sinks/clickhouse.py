"""The ClickHouse sink: whole batches, column-oriented, over clickhouse-connect's async HTTP client.

Tables are ReplacingMergeTree(received_at) ordered by the record identity, so writing a record
twice leaves one row once parts merge (and at once for `SELECT ... FINAL`). That also makes a
partly stored batch harmless: the writer sends it again. Times travel as UTC millisecond
integers, which clickhouse-connect writes unchanged as DateTime64(3) ticks (converting them to
datetime objects first would cost about 1 µs per value, twice, for nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import aiohttp
import clickhouse_connect
import structlog
from clickhouse_connect.driver import options as client_options
from clickhouse_connect.driver.asyncclient import AsyncClient
from clickhouse_connect.driver.exceptions import ClickHouseError

from collector.config import ClickHouseConfig, DatabaseConfig
from collector.errors import ErrorCode, SinkError
from collector.lifecycle import OpenClose
from collector.records import KINDS, TABLES, Record, columns
from collector.sinks.base import missing_columns

log = structlog.get_logger(__name__)

_TIME = "DateTime64(3, 'UTC')"
_COLUMN_TYPES = {
    "exchange": "LowCardinality(String)",
    "symbol": "LowCardinality(String)",
    "ts": _TIME,
    "received_at": _TIME,
    "next_funding_time": f"Nullable({_TIME})",
    "funding_rate": "Float64",
}
_VALUE_TYPE = "Nullable(Float64)"
_MAX_REASON = 300
# What the client raises when the server or the network fails; anything else is a bug of ours.
_FAILURES = (ClickHouseError, aiohttp.ClientError, OSError, TimeoutError)


def column_types(kind: str) -> list[str]:
    """ClickHouse type of each of `columns(kind)`, in order."""
    return [_COLUMN_TYPES.get(name, _VALUE_TYPE) for name in columns(kind)]


def create_table_sql(database: str, kind: str) -> str:
    definitions = ",\n    ".join(
        f"`{name}` {ch_type}" for name, ch_type in zip(columns(kind), column_types(kind)))
    return (
        f"CREATE TABLE IF NOT EXISTS `{database}`.`{TABLES[kind]}` (\n    {definitions}\n)\n"
        "ENGINE = ReplacingMergeTree(received_at)\n"
        "PARTITION BY toYYYYMM(ts)\n"
        "ORDER BY (exchange, symbol, ts)"
    )


def add_column_sql(database: str, kind: str, name: str) -> str:
    ch_type = _COLUMN_TYPES.get(name, _VALUE_TYPE)
    return f"ALTER TABLE `{database}`.`{TABLES[kind]}` ADD COLUMN IF NOT EXISTS `{name}` {ch_type}"


def column_data(records: Sequence[Record], kind: str) -> list[tuple[Any, ...]]:
    """The records' values pivoted into one sequence per column of `columns(kind)`."""
    return list(zip(*map(attrgetter(*columns(kind)), records)))


def _load_optional_libraries() -> None:
    client_options.np, client_options.pd  # noqa: B018 - touching them runs the lazy imports


def failure_reason(err: BaseException, password: str, timeout: float) -> str:
    """One line saying why a call failed, with the password masked should the text contain it."""
    if isinstance(err, TimeoutError):
        return f"no answer within {timeout:g} s"
    text = " ".join(str(err).split()) or type(err).__name__
    if password:
        text = text.replace(password, "***")
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON - 3] + "..."


class ClickHouseSink(OpenClose):
    name = "clickhouse"
    error_code = ErrorCode.DB_001

    def __init__(self, config: ClickHouseConfig, database: DatabaseConfig) -> None:
        self._config = config
        self._timeout = database.timeout
        self._connect_timeout = database.connect_timeout
        self._client: AsyncClient | None = None
        self._connecting = asyncio.Lock()
        self._where = f"{config.host}:{config.port}/{config.database}"
        # clickhouse-connect imports numpy and pandas (if installed) on the first insert, from
        # whichever thread inserts. Done here, once, on the main thread at start-up (~0.3 s),
        # before any connection exists whose garbage could run code inside that import.
        _load_optional_libraries()

    @property
    def endpoint(self) -> str:
        return self._where

    async def open(self) -> None:
        """Connect and create the database and tables if missing. Idempotent."""
        await self._connected()

    async def write(self, records: Sequence[Record]) -> None:
        by_kind: dict[str, list[Record]] = {kind: [] for kind in KINDS}
        for record in records:
            by_kind[record.kind].append(record)
        client = await self._connected()
        for kind, batch in by_kind.items():
            if batch:
                await self._insert(client, kind, batch)

    async def close(self) -> None:
        await self._drop_client()

    async def _connected(self) -> AsyncClient:
        async with self._connecting:
            if self._client is None:
                client = await self._guarded("connect", self._connect(), self._connect_timeout)
                try:
                    await self._guarded("create schema", self._create_schema(client), self._connect_timeout)
                except SinkError:
                    await client.close()
                    raise
                self._client = client
                log.info("clickhouse_connected", sink=self.name, server=self._where)
            return self._client

    async def _connect(self) -> AsyncClient:
        config = self._config
        return await clickhouse_connect.get_async_client(
            host=config.host, port=config.port, username=config.username,
            password=config.password.get_secret_value(), secure=config.secure,
            connect_timeout=self._connect_timeout, send_receive_timeout=self._timeout,
            query_retries=0,  # retrying is the batching writer's decision, not the client's
        )

    async def _create_schema(self, client: AsyncClient) -> None:
        database = self._config.database
        await client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        for kind in KINDS:
            await client.command(create_table_sql(database, kind))
            await self._upgrade_table(client, kind)

    async def _upgrade_table(self, client: AsyncClient, kind: str) -> None:
        """Add the columns a table created by an earlier version lacks; its rows stay as they are."""
        database = self._config.database
        result = await client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {table:String}",
            parameters={"db": database, "table": TABLES[kind]})
        existing = {row[0] for row in result.result_rows}
        for name in missing_columns(kind, existing):
            await client.command(add_column_sql(database, kind, name))
            log.info("schema_upgraded", sink=self.name, table=TABLES[kind], column=name)

    async def _insert(self, client: AsyncClient, kind: str, batch: list[Record]) -> None:
        summary = await self._guarded(f"insert into {TABLES[kind]}", client.insert(
            TABLES[kind], column_data(batch, kind), column_names=columns(kind),
            database=self._config.database, column_type_names=column_types(kind),
            column_oriented=True))
        if "written_rows" in summary.summary and summary.written_rows < len(batch):
            await self._drop_client()
            raise SinkError(
                f"ClickHouse {self._where} confirmed {summary.written_rows} of {len(batch)} rows "
                f"inserted into {TABLES[kind]}", code=self.error_code)

    async def _guarded(self, action: str, operation: Any, timeout: float | None = None) -> Any:
        """Await `operation` within the timeout; a failure becomes SinkError and drops the client."""
        timeout = self._timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(timeout):
                return await operation
        except _FAILURES as err:
            await self._drop_client()
            raise SinkError(
                f"ClickHouse {action} at {self._where} failed: "
                f"{failure_reason(err, self._config.password.get_secret_value(), timeout)}",
                code=self.error_code) from None

    async def _drop_client(self) -> None:
        """Forget a client that failed, so that the next call reconnects (and re-checks the schema)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except _FAILURES:
                pass  # the connection is already gone; nothing is left to release
