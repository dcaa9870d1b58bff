"""What each sink holds, as record identities `(kind, exchange, symbol, ts)`, read back from the
real servers (for tests that compare sinks with each other and with the journal)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from collector.config import ClickHouseConfig, PostgresConfig
from collector.records import TABLES
from tests.support.clickhouse import ClickHouseEndpoint, admin_client

Identity = tuple[str, str, str, int]


def sqlite_identities(path: Path) -> set[Identity]:
    if not path.exists():
        return set()
    with closing(sqlite3.connect(path)) as connection:
        found: set[Identity] = set()
        for kind, table in TABLES.items():
            exists = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
            if exists:
                found |= {(kind, ex, sym, ts) for ex, sym, ts in
                          connection.execute(f"SELECT exchange, symbol, ts FROM {table}")}
        return found


async def postgres_identities(config: PostgresConfig) -> set[Identity]:
    connection = await asyncpg.connect(host="127.0.0.1", port=5432, user=config.user, database=config.database)
    try:
        found: set[Identity] = set()
        for kind, table in TABLES.items():
            if await connection.fetchval("SELECT to_regclass($1)", table):
                found |= {(kind, r[0], r[1], r[2]) for r in await connection.fetch(
                    f"SELECT exchange, symbol, (extract(epoch FROM ts) * 1000)::bigint FROM {table}")}
        return found
    finally:
        await connection.close()


async def clickhouse_identities(endpoint: ClickHouseEndpoint, config: ClickHouseConfig) -> set[Identity]:
    client = await admin_client(endpoint)
    try:
        found: set[Identity] = set()
        exists = await client.query(f"SELECT name FROM system.tables WHERE database = '{config.database}'")
        tables = {row[0] for row in exists.result_rows}
        for kind, table in TABLES.items():
            if table in tables:
                result = await client.query(
                    f"SELECT exchange, symbol, toUnixTimestamp64Milli(ts) FROM `{config.database}`.{table}")
                found |= {(kind, ex, sym, int(ts)) for ex, sym, ts in result.result_rows}
        return found
    finally:
        await client.close()


def rabbitmq_identities(messages: list[AbstractIncomingMessage]) -> set[Identity]:
    found: set[Identity] = set()
    for message in messages:
        body = json.loads(message.body)
        found.add((body["kind"], body["exchange"], body["symbol"], body["ts"]))
    return found
