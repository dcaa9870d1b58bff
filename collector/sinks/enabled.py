"""The sinks a configuration enables, built but not opened: the daemon's and `--check-deps`'s.

Each client library is imported only when its sink is enabled, so an unused one costs nothing.
"""

from __future__ import annotations

from collector.config import AppConfig
from collector.sinks.base import Sink


def build_sinks(config: AppConfig) -> list[Sink]:
    """One sink per enabled section; imported lazily so an unused client library costs nothing."""
    sinks: list[Sink] = []
    if config.rabbitmq.enabled:
        from collector.sinks.rabbitmq.sink import RabbitMQSink
        sinks.append(RabbitMQSink(config.rabbitmq, timeout=config.database.timeout,
                                  connect_timeout=config.database.connect_timeout))
    if config.clickhouse.enabled:
        from collector.sinks.clickhouse import ClickHouseSink
        sinks.append(ClickHouseSink(config.clickhouse, config.database))
    if config.postgres.enabled:
        from collector.sinks.postgres import PostgresSink
        sinks.append(PostgresSink(config.postgres, config.database))
    if config.sqlite.enabled:
        from collector.sinks.sqlite import SQLiteSink
        sinks.append(SQLiteSink(config.sqlite, config.database))
    return sinks
