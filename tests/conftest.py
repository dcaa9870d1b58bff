"""Fixtures shared by the whole suite: real servers and the exchange simulator.

Session-scoped ones (the chDB-backed ClickHouse server) start once per run when test modules
take them from here rather than importing them.
"""

import pytest
import structlog

pytest_plugins = [
    "tests.support.simulator",
    "tests.support.postgres",
    "tests.support.rabbitmq",
    "tests.support.clickhouse",
]


@pytest.fixture(autouse=True)
def _structlog_defaults():
    """A test that configures logging (level filter included) must not leave it to the next,
    whose capture_logs() would then miss debug lines."""
    yield
    structlog.reset_defaults()

