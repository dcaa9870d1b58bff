"""Fixtures shared by the whole suite: real servers and the exchange simulator.

Session-scoped ones (the chDB-backed ClickHouse server) start once per run when test modules
take them from here rather than importing them.
"""

pytest_plugins = [
    "tests.support.simulator",
    "tests.support.postgres",
    "tests.support.rabbitmq",
    "tests.support.clickhouse",
]
