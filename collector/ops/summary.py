"""The one-screen summary `--validate-config` prints: what the daemon will do, secrets masked."""

from __future__ import annotations

from pathlib import Path

from collector.config import AppConfig, ExchangeConfig
from collector.shard import ShardConfig
from collector.masking import mask_data, mask_value
from collector.ops.weights import estimate, summary_lines


def config_summary(config: AppConfig, path: Path) -> str:
    lines = [f"Configuration OK: {path}"]
    lines.append(f"  intervals   ticker {config.ticker_interval:g}s, funding_rate {config.funding_rate_interval:g}s,"
                 f" open_interest {config.open_interest_interval:g}s (0 = off),"
                 f" funding history {config.funding_history_days} days (0 = off)")
    lines.append("  exchanges")
    for name, exchange in config.exchange_configs.items():
        lines.append(f"    {name:<10} {_exchange(exchange, _symbols(name, exchange, config.shard))}")
    lines.append("  sinks")
    for name in ("rabbitmq", "clickhouse", "postgres", "sqlite"):
        lines.append(f"    {name:<10} {_sink(config, name)}")
    if config.parquet.enabled:  # the archive is listed only when on: most daemons run without it
        lines.append(f"    {'parquet':<10} {_sink(config, 'parquet')}")
    batch = config.batch_processing
    lines.append(
        f"  delivery    batch {batch.batch_size} records or {batch.flush_interval:g}s, queue {batch.queue_max_size}"
        f" per sink, spool {batch.spool_dir} (max {batch.spool_max_bytes / 2**20:.0f} MiB)"
    )
    lines.append(
        f"  resilience  retry {config.retry.max_attempts}x ({config.retry.base_delay:g}-{config.retry.max_delay:g}s),"
        f" breaker {config.circuit_breaker.failure_threshold} failures / {config.circuit_breaker.recovery_timeout:g}s,"
        f" cache {'on' if config.cache.enabled else 'off'}, {config.performance.max_concurrent_requests} concurrent requests"
    )
    lines.extend(summary_lines(estimate(config)))
    health = config.health
    lines.append(f"  health      {f'http://{health.host}:{health.port}/health' if health.enabled else 'disabled'}")
    log = config.logging
    where = ", ".join(filter(None, ["console" if log.console else "", f"file {log.file_path}" if log.file else ""]))
    lines.append(f"  logging     {config.log_level} ({log.format}) to {where or 'nowhere'}")
    lines.append(f"  shard       {_shard(config.shard)}")
    return "\n".join(lines)


def _shard(shard: ShardConfig) -> str:
    if shard.count == 1:
        return "0/1 (unsharded: every symbol)"
    return f"{shard.describe().removeprefix('shard ')}: the symbols rendezvous hashing gives this shard"


def _symbols(name: str, exchange: ExchangeConfig, shard: ShardConfig) -> str:
    """The symbols this shard collects of the exchange; known only when they are configured."""
    if not exchange.symbols:
        if shard.count == 1:
            return "every active linear perpetual"
        return (f"every active linear perpetual, about 1/{shard.count} of them owned"
                " (the count is on /health once the markets are loaded)")
    if shard.count == 1:
        return ", ".join(exchange.symbols)
    owned = shard.owned(name, exchange.symbols)
    listed = ", ".join(s for s in exchange.symbols if s in owned) or "none"
    return f"owns {len(owned)} of {len(exchange.symbols)}: {listed}"


def _exchange(exchange: ExchangeConfig, symbols: str) -> str:
    state = "enabled" if exchange.enabled else "disabled"
    text = (f"{state}, ccxt {exchange.ccxt_id}, {exchange.decoder or 'ccxt'} decoder, {exchange.rate_limit} req/min,"
            f" timeout {exchange.timeout:g}s, symbols: {symbols}")
    keys = [f"{field} {mask_value(getattr(exchange, field))}"
            for field in ("api_key", "secret", "password") if getattr(exchange, field).get_secret_value()]
    if keys:
        text += ", " + ", ".join(keys)
    if exchange.ccxt_options:
        text += f", ccxt_options {mask_data(exchange.ccxt_options)}"
    return text


def _sink(config: AppConfig, name: str) -> str:
    section = getattr(config, name)
    if not section.enabled:
        return "disabled"
    if name == "sqlite":
        return f"enabled, {section.path}"
    if name == "parquet":
        return (f"enabled, {section.path}, roll {section.roll_interval:g}s or {section.max_part_records} records,"
                f" {section.compression}, compact {section.compact_after:g}s after a day (0 = never)")
    if name == "rabbitmq":
        nodes = ",".join(f"{host}:{port}" for host, port in section.nodes)
        queues = ", ".join(f"{queue.name} ({queue.type})" for queue in section.queues) or "none declared"
        return (f"enabled, amqp://{section.username}:{mask_value(section.password)}@{nodes}"
                f"{section.virtual_host} exchange {section.exchange}; queues {queues}; "
                f"unroutable {section.unroutable}")
    if name == "clickhouse":
        scheme = "https" if section.secure else "http"
        return (f"enabled, {scheme}://{section.username}@{section.host}:{section.port} database {section.database},"
                f" password {mask_value(section.password)}")
    return (f"enabled, {section.user}@{section.host}:{section.port}/{section.database},"
            f" password {mask_value(section.password)}, pool {config.database.connection_pool_size}")
