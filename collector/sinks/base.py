"""What every sink is: a Protocol, not a base class.

A sink writes whole batches of records to one destination. `write` is idempotent on the record
identity `(kind, exchange, symbol, ts)`: writing the same records again leaves one row (message
id) each. A batch may mix tickers and funding rates. On any failure (connection refused, timeout,
server error) `write` raises `SinkError` carrying the sink's `error_code` and a one-line reason
without secrets; it never half-reports success. Retries, breakers, batching and the spool are the
writer's job, not the sink's: a sink tries once per call, reconnecting lazily when its
connection was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, Self

from collector.errors import ErrorCode
from collector.records import KEY_FIELDS, RATE_REQUIRED, Record, columns


class Sink(Protocol):
    name: str  # "postgres", "clickhouse", "rabbitmq", "sqlite": the label in logs, /health, /metrics
    error_code: ErrorCode  # DB_001 or MQ_001

    async def open(self) -> None:
        """Connect and create the schema if missing. Idempotent. Raises SinkError."""

    async def write(self, records: Sequence[Record]) -> None:
        """Write every record or raise SinkError. Opens the connection first if needed."""

    async def close(self) -> None:
        """Release connections. Safe to call twice and after a failed open."""

    async def __aenter__(self) -> Self:
        """`open()`, then return self."""

    async def __aexit__(self, *exc_info: object) -> None:
        """`close()`."""


def column_definitions(kind: str, type_of: Callable[[str], str]) -> str:
    """`name TYPE [NOT NULL], ...` of a kind's table, for the SQL sinks' CREATE TABLE."""
    required = {*KEY_FIELDS, "funding_rate"} if kind in RATE_REQUIRED else set(KEY_FIELDS)
    return ", ".join(f"{name} {type_of(name)}{' NOT NULL' if name in required else ''}"
                     for name in columns(kind))


def missing_columns(kind: str, existing: set[str]) -> list[str]:
    """Columns of `kind` a table created by an earlier version lacks, in `columns(kind)` order.

    New columns are always nullable, so adding them keeps every row as it was."""
    return [name for name in columns(kind) if name not in existing]
