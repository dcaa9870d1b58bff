"""The sinks' sections of the configuration: where each sink connects or writes, and the
timeouts they share (`database`). Re-exported by `collector.config`, which composes AppConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from collector.config_fields import Host, LocalPath, Section, check_host


class RabbitMQQueueConfig(Section):
    """A queue the sink declares (durable) and binds at every connect, before its first publish."""
    name: str = Field(min_length=1, max_length=255)
    # quorum: replicated (Raft), consumed and acked; stream: an append-only log read from an
    # offset or a time; classic: one node's queue.
    type: Literal["quorum", "stream", "classic"] = "quorum"
    binding_keys: tuple[str, ...] = Field(("#",), min_length=1)
    arguments: dict[str, str | int | float | bool] = Field(default_factory=dict)


class RabbitMQConfig(Section):
    enabled: bool = False
    host: Host = "localhost"
    port: int = Field(5672, ge=1, le=65535)
    username: str = "guest"
    password: SecretStr = SecretStr("guest")
    virtual_host: str = Field("/", min_length=1)
    exchange: str = Field("crypto.futures", min_length=1)
    # ["h1:5672", ...]: the nodes of a cluster, tried in order; empty: host and port.
    hosts: tuple[str, ...] = ()
    queues: tuple[RabbitMQQueueConfig, ...] = ()
    alternate_exchange: str = ""  # a catch-all exchange (with a queue) for what no queue binds
    # hold: a record no queue binds stays in the journal until one does; count: counted, let go.
    unroutable: Literal["hold", "count"] = "hold"

    @field_validator("hosts")
    @classmethod
    def _host_and_port(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{entry!r} must be host:port with a port 1 ..= 65535")
            check_host(host)  # "amqp://mq1:5672" or " :5672" named here, not at the first connect
        return value

    @field_validator("queues")
    @classmethod
    def _unique_queue_names(cls, value: tuple[RabbitMQQueueConfig, ...]) -> tuple[RabbitMQQueueConfig, ...]:
        names = [queue.name for queue in value]
        if duplicated := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"queue names must be unique; declared twice: {', '.join(duplicated)}")
        return value

    @property
    def nodes(self) -> tuple[tuple[str, int], ...]:
        """(host, port) of every node to try, in order."""
        if not self.hosts:
            return ((self.host, self.port),)
        return tuple((host, int(port)) for host, _, port in (entry.rpartition(":") for entry in self.hosts))


class ClickHouseConfig(Section):
    enabled: bool = False
    host: Host = "localhost"
    port: int = Field(8123, ge=1, le=65535)
    username: str = "default"
    password: SecretStr = SecretStr("")
    database: str = Field("crypto_data", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    secure: bool = False


class PostgresConfig(Section):
    enabled: bool = False
    host: Host = "localhost"
    port: int = Field(5432, ge=1, le=65535)
    user: str = "crypto_user"
    password: SecretStr = SecretStr("")
    database: str = "crypto_data"


class SQLiteConfig(Section):
    enabled: bool = True
    path: LocalPath = Path("./data/collector.db")


class ParquetConfig(Section):
    """The archive sink: Hive-partitioned Parquet files written from the journal."""

    enabled: bool = False
    path: Path = Path("./data/archive")
    roll_interval: float = Field(3600.0, ge=60.0, le=86400.0, description="seconds a part stays open at most")
    max_part_records: int = Field(1_000_000, ge=1, le=100_000_000)
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    # Seconds after a UTC day ends before its parts are merged into data.parquet; 0 = never.
    compact_after: float = Field(7200.0, ge=0.0, le=31_536_000.0)


class DatabaseConfig(Section):
    timeout: float = Field(60.0, gt=0.0, le=3600.0, description="seconds one sink write may take")
    # Apart from `timeout`: a server that accepts TCP and never answers is found out in seconds.
    connect_timeout: float = Field(10.0, gt=0.0, le=3600.0, description="seconds a sink connect may take")
    connection_pool_size: int = Field(10, ge=1, le=1000)
