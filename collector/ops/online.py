"""`--validate-config --online`: connect to every enabled sink and check what start would.

Reachability and credentials for each; RabbitMQ: the exchange and the declared queues' arguments
(MQ_002 where start would refuse them); the SQL sinks: their tables' columns. Nothing is created
or changed: a missing queue or table is fine (start creates it), a missing nullable column too
(start adds it), a table without a key column is not (start cannot add one). One OK/FAIL line
per sink (checks.Check, as `run_tests.py --check-deps` prints them); exit 0 only if all are OK.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from collector.ops.checks import Check
from collector.ops.checks import _timed as timed  # the --check-deps probe: one bounded OK/FAIL line
from collector.config import AppConfig
from collector.records import KEY_FIELDS, KINDS, TABLES, columns


async def online_checks(config: AppConfig, *, timeout: float) -> list[Check]:
    probes: dict[str, Callable[[], Awaitable[str]]] = {}
    if config.rabbitmq.enabled:
        probes["rabbitmq"] = lambda: _rabbitmq(config)
    if config.clickhouse.enabled:
        probes["clickhouse"] = lambda: _clickhouse(config)
    if config.postgres.enabled:
        probes["postgres"] = lambda: _postgres(config)
    if config.sqlite.enabled:
        probes["sqlite"] = lambda: asyncio.to_thread(_sqlite, config.sqlite.path)
    return list(await asyncio.gather(*(timed(f"sink {name}", probe, timeout) for name, probe in probes.items())))


def tables_report(existing: dict[str, set[str]]) -> str:
    """`existing`: table → its columns (absent: no such table). Raises ValueError when start
    could not use a table: one lacking a key column."""
    words = []
    for kind in KINDS:
        table = TABLES[kind]
        if table not in existing:
            words.append(f"{table} missing (created at start)")
            continue
        missing = [name for name in columns(kind) if name not in existing[table]]
        if lacking_keys := [name for name in missing if name in KEY_FIELDS]:
            raise ValueError(f"table {table} lacks the key column(s) {', '.join(lacking_keys)}; "
                             "start cannot add them: rename the table or migrate it")
        words.append(f"{table} ok" if not missing else f"{table}: {len(missing)} column(s) added at start "
                                                        f"({', '.join(missing)})")
    return "; ".join(words)


async def _rabbitmq(config: AppConfig) -> str:
    from collector.sinks.rabbitmq.sink import RabbitMQSink
    sink = RabbitMQSink(config.rabbitmq, timeout=config.database.timeout,
                        connect_timeout=config.database.connect_timeout)
    try:
        return await sink.verify()
    finally:
        await sink.close()


async def _postgres(config: AppConfig) -> str:
    import asyncpg
    pg = config.postgres
    connection = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user, database=pg.database,
                                       password=pg.password.get_secret_value() or None,
                                       timeout=config.database.connect_timeout)
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY($1::text[])", list(TABLES.values()))
    finally:
        await connection.close()
    return f"{pg.user}@{pg.host}:{pg.port}/{pg.database}: " + tables_report(_by_table(rows))


async def _clickhouse(config: AppConfig) -> str:
    import clickhouse_connect
    ch = config.clickhouse
    client = await clickhouse_connect.get_async_client(
        host=ch.host, port=ch.port, username=ch.username, password=ch.password.get_secret_value(),
        secure=ch.secure, connect_timeout=config.database.connect_timeout, query_retries=0)
    try:
        result = await client.query("SELECT table, name FROM system.columns WHERE database = {db:String}",
                                    parameters={"db": ch.database})
    finally:
        await client.close()
    return f"{ch.username}@{ch.host}:{ch.port}/{ch.database}: " + tables_report(_by_table(result.result_rows))


def _sqlite(path: Path) -> str:
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("."))
        if not parent.is_dir() or not _writable(parent):
            raise ValueError(f"{path} does not exist and {parent} is not a writable directory")
        return f"{path} missing (created at start)"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = [(table, row[1]) for table in TABLES.values()
                for row in connection.execute(f"PRAGMA table_info({table})")]
    finally:
        connection.close()
    return f"{path}: " + tables_report(_by_table(rows))


def _by_table(rows) -> dict[str, set[str]]:
    existing: dict[str, set[str]] = {}
    for table, column in rows:
        existing.setdefault(table, set()).add(column)
    return existing


def _writable(directory: Path) -> bool:
    import os
    return os.access(directory, os.W_OK | os.X_OK)
