"""Fixtures shared by the whole suite: real servers and the exchange simulator.

Session-scoped ones (the chDB-backed ClickHouse server) start once per run when test modules
take them from here rather than importing them.
"""

import pytest
import structlog

from tests.support.daemon import kill_leftover_daemons

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


@pytest.fixture(autouse=True)
def _no_leftover_daemons():
    """A test that fails before it stops its daemon subprocess must not leave it running (and
    writing to the shared servers) under the tests after it."""
    yield
    kill_leftover_daemons()
