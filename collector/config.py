"""Pydantic models of the configuration contract (DESIGN.md): AppConfig and its sections.

Frozen, `extra="forbid"` (a typo is an error, not a silent default), secrets as SecretStr.
Each part of the daemon receives only its own section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from collector.config_fields import Host, LocalPath, Section, is_url, url_leaves
from collector.config_sinks import (
    ClickHouseConfig, DatabaseConfig, ParquetConfig, PostgresConfig, RabbitMQConfig, RabbitMQQueueConfig,
    SQLiteConfig,
)
from collector.errors import NestedValueError
from collector.shard import ShardConfig

_EXCHANGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
DEFAULT_CCXT_IDS = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}
# ccxt ids with a native decoder (collector/venues/): the default `decoder` there.
NATIVE_DECODER_IDS = ("binanceusdm", "bybit", "okx")


class ExchangeConfig(Section):
    enabled: bool = True
    ccxt_id: str = ""  # filled from the exchange's name by AppConfig when empty
    api_key: SecretStr = SecretStr("")
    secret: SecretStr = SecretStr("")
    password: SecretStr = SecretStr("")
    rate_limit: int = Field(1200, ge=100, le=10000, description="requests per minute")
    timeout: float = Field(30.0, ge=1.0, le=300.0)
    symbols: tuple[str, ...] = ()
    ccxt_options: dict[str, Any] = Field(default_factory=dict)
    # poll: REST every ticker_interval; stream: websockets through ccxt pro, REST as the fallback.
    mode: Literal["poll", "stream"] = "poll"
    stream_interval: float = Field(1.0, ge=0.0, le=3600.0, description="0 = every update")
    stream_stale_after: float = Field(10.0, ge=0.5, le=3600.0)
    # native: the venue's JSON decoded by collector/venues/ (ccxt ids in NATIVE_DECODER_IDS, their
    # default); ccxt: ccxt's parsers, the reference (the default everywhere else). Filled by AppConfig.
    decoder: Literal["native", "ccxt"] | None = None

    @field_validator("ccxt_options")
    @classmethod
    def _urls_are_urls(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Every endpoint under `ccxt_options.urls.api`: an empty `${SIMULATOR_URL}` must not
        leave ccxt a relative path that fails at the first request with no field named."""
        urls = value.get("urls")
        api = urls.get("api") if isinstance(urls, Mapping) else None
        if isinstance(api, Mapping):
            for where, leaf in url_leaves(api, ("urls", "api")):
                if not is_url(leaf):
                    raise NestedValueError(where, "must be an http(s):// or ws(s):// URL with a host", leaf)
        return value


class PerformanceConfig(Section):
    max_concurrent_requests: int = Field(50, ge=1, le=10000)
    worker_threads: int = Field(4, ge=1, le=256)
    connection_pool_size: int = Field(20, ge=1, le=1000)
    # Where the original troubleshooting guide puts it; applied to batch_processing.batch_size,
    # the canonical key (AppConfig._apply_performance_batch_size).
    batch_size: int | None = Field(None, ge=1, le=1_000_000)


class CacheConfig(Section):
    enabled: bool = True
    max_size: int = Field(10000, ge=1, le=10_000_000)
    default_ttl: float = Field(60.0, gt=0.0, le=86400.0)


class BatchProcessingConfig(Section):
    batch_size: int = Field(1000, ge=1, le=1_000_000)
    flush_interval: float = Field(5.0, gt=0.0, le=3600.0)
    queue_max_size: int = Field(100000, ge=1, le=100_000_000)
    spool_dir: LocalPath = Path("./data/spool")
    spool_max_bytes: int = Field(1_073_741_824, ge=1_048_576)
    # On SIGTERM each writer gets this long to flush its queue; the rest goes to the spool.
    shutdown_timeout: float = Field(30.0, gt=0.0, le=3600.0)


class RetryConfig(Section):
    max_attempts: int = Field(3, ge=1, le=100)
    base_delay: float = Field(1.0, gt=0.0, le=3600.0)
    max_delay: float = Field(30.0, gt=0.0, le=86400.0)

    @model_validator(mode="after")
    def _max_not_below_base(self) -> RetryConfig:
        if self.max_delay < self.base_delay:
            raise ValueError(f"max_delay ({self.max_delay}) must be >= base_delay ({self.base_delay})")
        return self


class CircuitBreakerConfig(Section):
    failure_threshold: int = Field(5, ge=1, le=1000)
    recovery_timeout: float = Field(60.0, gt=0.0, le=86400.0)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    console: bool = True
    file: bool = True
    file_path: LocalPath = Path("./logs/collector.log")
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    max_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="rotate the log file at this size")
    backup_count: int = Field(5, ge=0, le=1000, description="rotated files kept")


class HealthConfig(Section):
    enabled: bool = True
    host: Host = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


def _filled(name: str, config: ExchangeConfig) -> ExchangeConfig:
    """The exchange's ccxt id and decoder, where the file leaves them to their defaults."""
    ccxt_id = config.ccxt_id or DEFAULT_CCXT_IDS.get(name, name)
    native = ccxt_id in NATIVE_DECODER_IDS
    if config.decoder == "native" and not native:
        raise NestedValueError(
            ("exchange_configs", name, "decoder"),
            f"native exists only for ccxt ids {', '.join(NATIVE_DECODER_IDS)} (this exchange's is "
            f"{ccxt_id!r}); use decoder: ccxt", "native")
    decoder = config.decoder or ("native" if native else "ccxt")
    if (ccxt_id, decoder) == (config.ccxt_id, config.decoder):
        return config
    return config.model_copy(update={"ccxt_id": ccxt_id, "decoder": decoder})


class AppConfig(Section):
    debug: bool = False
    ticker_interval: float = Field(30.0, ge=1.0, le=3600.0)
    funding_rate_interval: float = Field(300.0, ge=1.0, le=86400.0)
    # Per-symbol open-interest polls (exchanges without a bulk endpoint); 0 = off.
    open_interest_interval: float = Field(60.0, ge=0.0, le=86400.0)
    # Settled funding backfilled on start and after gaps, this many days back; 0 = off.
    funding_history_days: int = Field(7, ge=0, le=365)
    # Required: a config must say which exchanges it collects from.
    exchange_configs: dict[str, ExchangeConfig]
    performance: PerformanceConfig = PerformanceConfig()
    cache: CacheConfig = CacheConfig()
    batch_processing: BatchProcessingConfig = BatchProcessingConfig()
    retry: RetryConfig = RetryConfig()
    circuit_breaker: CircuitBreakerConfig = CircuitBreakerConfig()
    logging: LoggingConfig = LoggingConfig()
    health: HealthConfig = HealthConfig()
    rabbitmq: RabbitMQConfig = RabbitMQConfig()
    clickhouse: ClickHouseConfig = ClickHouseConfig()
    postgres: PostgresConfig = PostgresConfig()
    sqlite: SQLiteConfig = SQLiteConfig()
    parquet: ParquetConfig = ParquetConfig()
    database: DatabaseConfig = DatabaseConfig()
    shard: ShardConfig = ShardConfig()

    @field_validator("exchange_configs")
    @classmethod
    def _exchange_names(cls, value: dict[str, ExchangeConfig]) -> dict[str, ExchangeConfig]:
        for name in value:
            if not _EXCHANGE_NAME.fullmatch(name):
                raise ValueError(f"exchange name {name!r} must be 1-32 lowercase letters, digits, '_' or '-'")
        if not any(cfg.enabled for cfg in value.values()):
            raise ValueError("no exchange is enabled; enable at least one")
        return value

    @field_validator("open_interest_interval")
    @classmethod
    def _off_or_at_least_a_second(cls, value: float) -> float:
        if 0.0 < value < 1.0:
            raise ValueError(f"must be 0 (off) or 1.0 ..= 86400.0 seconds, got {value}")
        return value

    @model_validator(mode="after")
    def _fill_ccxt_ids(self) -> AppConfig:
        filled = {name: _filled(name, cfg) for name, cfg in self.exchange_configs.items()}
        object.__setattr__(self, "exchange_configs", filled)
        self._apply_performance_batch_size()
        self._apply_shard_defaults()
        if not self.enabled_sinks:
            raise ValueError("no sink is enabled; enable at least one of rabbitmq, clickhouse, postgres, sqlite, parquet")
        return self

    def _apply_performance_batch_size(self) -> None:
        alias, batch = self.performance.batch_size, self.batch_processing
        if alias is None:
            return
        if "batch_size" in batch.model_fields_set and batch.batch_size != alias:
            raise ValueError(f"performance.batch_size ({alias}) and batch_processing.batch_size "
                             f"({batch.batch_size}) differ; keep only batch_processing.batch_size")
        object.__setattr__(self, "batch_processing", batch.model_copy(update={"batch_size": alias}))

    def _apply_shard_defaults(self) -> None:
        """With more than one shard, what two shards on one host must not share gets its own
        value unless the config (file or environment) sets it: the journal and the SQLite file
        under data/shard-<i>/, the health port + index."""
        shard = self.shard
        if shard.count == 1:
            return
        i, batch, sqlite, health = shard.number, self.batch_processing, self.sqlite, self.health
        if "spool_dir" not in batch.model_fields_set:
            object.__setattr__(self, "batch_processing", batch.model_copy(
                update={"spool_dir": Path(f"./data/shard-{i}/spool")}))
        if "path" not in sqlite.model_fields_set:
            object.__setattr__(self, "sqlite", sqlite.model_copy(
                update={"path": Path(f"./data/shard-{i}/collector.db")}))
        if "port" not in health.model_fields_set:
            if health.port + i > 65535:
                raise ValueError(f"health.port ({health.port}) + shard.index ({i}) is above 65535; set health.port")
            object.__setattr__(self, "health", health.model_copy(update={"port": health.port + i}))

    @property
    def enabled_exchanges(self) -> dict[str, ExchangeConfig]:
        return {name: cfg for name, cfg in self.exchange_configs.items() if cfg.enabled}

    @property
    def enabled_sinks(self) -> list[str]:
        sections = {"rabbitmq": self.rabbitmq, "clickhouse": self.clickhouse,
                    "postgres": self.postgres, "sqlite": self.sqlite}
        sections["parquet"] = self.parquet
        return [name for name, section in sections.items() if section.enabled]

    @property
    def log_level(self) -> str:
        return "DEBUG" if self.debug else self.logging.level
