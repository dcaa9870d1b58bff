"""PostgreSQL sink: bulk, idempotent writes of tickers and funding rates through an asyncpg pool.

Tables `tickers` and `funding_rates`, primary key `(exchange, symbol, ts)`, times `timestamptz`,
prices `double precision`, columns in `records.columns(kind)` order. A batch is one transaction
per call: its rows are COPYed (binary) into a per-connection temporary staging table, then moved
with `INSERT … SELECT … ON CONFLICT DO NOTHING`, so a record written twice, or twice in one
batch, leaves one row.

Times travel as bigint UTC ms and become `timestamptz` inside the server with integer
arithmetic (`epoch + ms * 1 ms`), which is exact; Python builds no datetime per value.
"""

from __future__ import annotations

import asyncio
import operator
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

import asyncpg
import structlog

from collector.config import DatabaseConfig, PostgresConfig
from collector.errors import ErrorCode, SinkError
from collector.lifecycle import OpenClose
from collector.records import KINDS, TABLES, Record, columns
from collector.sinks.base import column_definitions, missing_columns

log = structlog.get_logger(__name__)

TIME_COLUMNS: Final = frozenset({"ts", "received_at", "next_funding_time"})
TEXT_COLUMNS: Final = frozenset({"exchange", "symbol"})
# What a failed connect/query can raise: server errors, client-side protocol state errors
# (e.g. "connection was closed in the middle of operation"), socket errors, our own timeout.
_FAILURES: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def _column_type(name: str) -> str:
    if name in TIME_COLUMNS:
        return "timestamptz"
    # Byte order: symbols are ASCII, and the primary key index then compares with memcmp
    # instead of the locale's strcoll (about 20% faster inserts measured).
    return 'text COLLATE "C"' if name in TEXT_COLUMNS else "double precision"


def _staging_type(name: str) -> str:
    return "bigint" if name in TIME_COLUMNS else _column_type(name)


def _column_list(kind: str, type_of: Any) -> str:
    return ", ".join(f"{name} {type_of(name)}" for name in columns(kind))


def create_table_sql(kind: str) -> str:
    definitions = column_definitions(kind, _column_type)
    return (f"CREATE TABLE IF NOT EXISTS {TABLES[kind]} "
            f"({definitions}, PRIMARY KEY (exchange, symbol, ts))")


def add_column_sql(kind: str, name: str) -> str:
    return f"ALTER TABLE {TABLES[kind]} ADD COLUMN IF NOT EXISTS {name} {_column_type(name)}"


async def _upgrade_schema(connection: asyncpg.Connection, kind: str) -> None:
    """Add the columns a table created by an earlier version lacks; its rows stay as they are."""
    existing = {row["column_name"] for row in await connection.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1", TABLES[kind])}
    for name in missing_columns(kind, existing):
        await connection.execute(add_column_sql(kind, name))
        log.info("schema_upgraded", sink="postgres", table=TABLES[kind], column=name)


def staging_table(kind: str) -> str:
    return f"staging_{TABLES[kind]}"


def _create_staging_sql(kind: str) -> str:
    # Once per connection; ON COMMIT DELETE ROWS empties it at every commit. Creating and dropping
    # a temp table per batch would churn (and bloat) the system catalogs for months.
    return (f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging_table(kind)} "
            f"({_column_list(kind, _staging_type)}) ON COMMIT DELETE ROWS")


def _as_timestamptz(name: str) -> str:
    if name in TIME_COLUMNS:
        return f"timestamptz 'epoch' + {name} * interval '1 millisecond'"
    return name


def _insert_sql(kind: str, *, ignore_conflicts: bool) -> str:
    names = columns(kind)
    return (f"INSERT INTO {TABLES[kind]} ({', '.join(names)}) "
            f"SELECT {', '.join(_as_timestamptz(name) for name in names)} "
            f"FROM {staging_table(kind)}{' ON CONFLICT DO NOTHING' if ignore_conflicts else ''}")


async def _prepare_connection(connection: asyncpg.Connection) -> None:
    for kind in KINDS:
        await connection.execute(_create_staging_sql(kind))


class PostgresSink(OpenClose):
    name = "postgres"
    error_code = ErrorCode.DB_001

    def __init__(self, config: PostgresConfig, database: DatabaseConfig) -> None:
        self._config = config
        self._timeout = database.timeout
        self._connect_timeout = database.connect_timeout
        self._pool_size = database.connection_pool_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()  # one pool, even when open() and write() race
        self._insert_new = {kind: _insert_sql(kind, ignore_conflicts=False) for kind in KINDS}
        self._insert_or_ignore = {kind: _insert_sql(kind, ignore_conflicts=True) for kind in KINDS}
        # records.as_row, but ~4x faster: one C-level getter per kind instead of a getattr loop.
        self._row_of = {kind: operator.attrgetter(*columns(kind)) for kind in KINDS}

    def __repr__(self) -> str:
        return f"PostgresSink({self._where()})"

    @property
    def endpoint(self) -> str:
        return f"{self._config.host}:{self._config.port}/{self._config.database}"

    async def open(self) -> None:
        """Create the pool and the tables if missing. Idempotent. Raises SinkError."""
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._ensure_pool()
        except _FAILURES as err:
            raise self._failure("connect", err) from err

    async def write(self, records: Sequence[Record]) -> None:
        """Write every record in one transaction, or raise SinkError and write none."""
        if not records:
            return
        by_kind: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for record in records:
            by_kind[record.kind].append(self._row_of[record.kind](record))
        try:
            async with asyncio.timeout(self._timeout):
                pool = await self._ensure_pool()
                async with pool.acquire() as connection:
                    await self._write_rows(connection, by_kind)
        except _FAILURES as err:
            raise self._failure("write", err) from err

    async def close(self) -> None:
        """Close the pool, waiting at most `database.timeout`. Safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await pool.close()
        except _FAILURES as err:
            log.warning("sink_close_failed", sink=self.name, error_code=self.error_code,
                        error=_describe(err))
            pool.terminate()

    async def _ensure_pool(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await self._create_pool()
                log.info("sink_opened", sink=self.name, where=self._where())
            return self._pool

    async def _create_pool(self) -> asyncpg.Pool:
        pool = asyncpg.create_pool(
            host=self._config.host, port=self._config.port, user=self._config.user,
            password=self._config.password.get_secret_value() or None,
            # min_size=0: no connection "floor" that asyncpg would try to restore (with a logged
            # traceback per attempt) while the server is down; the writer reports the outage once.
            database=self._config.database, min_size=0, max_size=self._pool_size,
            timeout=self._connect_timeout, command_timeout=self._timeout, init=_prepare_connection)
        try:
            await pool
            async with pool.acquire() as connection:
                for kind in KINDS:
                    await connection.execute(create_table_sql(kind))
                    await _upgrade_schema(connection, kind)
        except BaseException:
            pool.terminate()
            raise
        return pool

    async def _write_rows(self, connection: asyncpg.Connection,
                          by_kind: dict[str, list[tuple[Any, ...]]]) -> None:
        try:
            async with connection.transaction():
                for kind, rows in by_kind.items():
                    await connection.copy_records_to_table(
                        staging_table(kind), records=rows, columns=columns(kind))
                    await self._move_staged_rows(connection, kind)
        except BaseException:
            _discard(connection)
            raise

    async def _move_staged_rows(self, connection: asyncpg.Connection, kind: str) -> None:
        """Staging → table; a row whose identity is already there (or twice staged) is skipped.

        Optimistic: a plain INSERT first, inside a savepoint, and `ON CONFLICT DO NOTHING` only
        when it hits a duplicate (a replayed or repeated batch). Speculative insertion costs about
        as much again as the insert itself. Measured on this 2-core machine (shared, loaded), 1M
        tickers in batches of 10,000, COPY into staging: ON CONFLICT always 64-77k rows/s, plain
        INSERT first 97-113k rows/s; the alternative `INSERT … SELECT … FROM unnest($1::text[],
        …) ON CONFLICT DO NOTHING` 33k rows/s (COPY+staging with ON CONFLICT: 53k in that run).
        """
        try:
            async with connection.transaction():  # a SAVEPOINT inside the batch's transaction
                await connection.execute(self._insert_new[kind])
        except asyncpg.UniqueViolationError:
            await connection.execute(self._insert_or_ignore[kind])

    def _failure(self, action: str, err: BaseException) -> SinkError:
        return SinkError(f"postgres {action} failed ({self._where()}): {_describe(err)}",
                         code=self.error_code)

    def _where(self) -> str:
        return (f"{self._config.user}@{self._config.host}:{self._config.port}"
                f"/{self._config.database}")


def _discard(connection: asyncpg.Connection) -> None:
    """Terminate a connection whose write failed, before it goes back to the pool.

    A timed-out or broken connection is in an unknown protocol state: never reuse it; the pool
    opens a fresh one on the next acquire. When the socket itself was lost, asyncpg has already
    closed the connection and returned its holder to the pool, detaching our proxy: the pool
    discarded it already, and terminating the proxy would raise InterfaceError and hide the
    real error.
    """
    try:
        connection.terminate()
    except asyncpg.InterfaceError:
        pass  # "connection has been released back to the pool": asyncpg closed it already


def _describe(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    return f"{type(err).__name__}: {str(err) or 'no detail'}"
