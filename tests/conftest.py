"""Fixtures shared by the whole suite: real servers and the exchange simulator.

Session-scoped ones (the chDB-backed ClickHouse server) start once per run when test modules
take them from here rather than importing them.
"""

import os

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


def pytest_collection_modifyitems(config, items):
    """Soak tests (marked `soak`, tens of minutes) run only under `python run_tests.py --soak`."""
    if os.environ.get("COLLECTOR_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak test: run it with python run_tests.py --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
