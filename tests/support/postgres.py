"""PostgreSQL fixtures: a throwaway database on the local server (127.0.0.1:5432, trust auth).

Import the fixture explicitly in a test module:

    from tests.support.postgres import postgres_config  # noqa: F401

`postgres_config` creates a uniquely named database, yields a `PostgresConfig` for it (user
`postgres`, enabled) and drops it afterwards, ending any connection left open. Without a
reachable server the test is skipped with the reason; under CI=true it fails instead.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.config import PostgresConfig
from tests.support import unavailable

HOST = "127.0.0.1"
PORT = 5432
ADMIN_USER = "postgres"
ADMIN_DATABASE = "postgres"
_CONNECT_TIMEOUT = 5.0


async def admin_connection() -> asyncpg.Connection:
    """A connection to the server's `postgres` database as the superuser; skips/fails if down."""
    try:
        return await asyncpg.connect(host=HOST, port=PORT, user=ADMIN_USER,
                                     database=ADMIN_DATABASE, timeout=_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError) as err:
        unavailable(f"PostgreSQL is not reachable on {HOST}:{PORT} as {ADMIN_USER}: {err!r}",
                    "the server is required")


@pytest.fixture
async def postgres_config() -> AsyncIterator[PostgresConfig]:
    name = f"test_collector_{uuid.uuid4().hex[:12]}"
    admin = await admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PostgresConfig(enabled=True, host=HOST, port=PORT, user=ADMIN_USER, database=name)
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
