"""Prometheus metric families of the daemon, in one registry that /metrics serves.

Parts of the daemon import the family they feed; nothing else keeps counters of its own.
"""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)  # python_gc_collections_total{generation}, python_gc_objects_collected_total

_P = "collector_"

records_collected = Counter(
    _P + "records_collected", "Records normalized from exchange responses",
    ["exchange", "kind"], registry=REGISTRY)
records_skipped = Counter(
    _P + "records_skipped", "Exchange entries skipped: malformed, or unchanged since the last tick",
    ["exchange", "kind", "reason"], registry=REGISTRY)
requests = Counter(
    _P + "exchange_requests", "Requests made to exchanges, by outcome",
    ["exchange", "endpoint", "outcome"], registry=REGISTRY)
symbols_rejected = Counter(
    _P + "symbols_rejected",
    "Per-symbol requests the exchange rejected as an unknown symbol (what they fill stays empty)",
    ["exchange", "endpoint"], registry=REGISTRY)
request_latency = Histogram(
    _P + "exchange_request_seconds", "Exchange request latency",
    ["exchange", "endpoint"], registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
rate_limit_wait = Counter(
    _P + "rate_limit_wait_seconds",
    "Seconds requests waited for the exchange's rate limit (included in exchange_request_seconds)",
    ["exchange"], registry=REGISTRY)
ticks_skipped = Counter(
    _P + "ticks_skipped", "Scheduler ticks skipped because the previous one overran",
    ["exchange", "kind"], registry=REGISTRY)
breaker_state = Gauge(
    _P + "breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open",
    ["name"], registry=REGISTRY)
records_written = Counter(
    _P + "records_written", "Records confirmed written by a sink", ["sink"], registry=REGISTRY)
records_spooled = Counter(
    _P + "records_spooled", "Records written to a sink's on-disk spool", ["sink"], registry=REGISTRY)
records_dropped = Counter(
    _P + "records_dropped", "Records dropped (spool full, or rejected as malformed)",
    ["sink", "reason"], registry=REGISTRY)
mq_unroutable = Counter(
    _P + "mq_unroutable", "Messages RabbitMQ returned because no queue binds their routing key", ["kind"],
    registry=REGISTRY)
sink_write_latency = Histogram(
    _P + "sink_write_seconds", "Time to write one batch to a sink", ["sink"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
queue_depth = Gauge(
    _P + "queue_depth", "Records waiting in a sink's in-memory queue", ["sink"], registry=REGISTRY)
spool_bytes = Gauge(
    _P + "spool_bytes", "Bytes in a sink's on-disk spool", ["sink"], registry=REGISTRY)
sink_lag = Gauge(
    _P + "sink_lag_seconds", "Age of the oldest journaled record a sink has not written yet (0 when caught up)",
    ["sink"], registry=REGISTRY)
journal_bytes = Gauge(
    _P + "journal_bytes", "Bytes in the on-disk journal of accepted records", registry=REGISTRY)
cache_hits = Counter(
    _P + "cache_hits", "Exchange requests answered by the response cache (or by the same request in flight)",
    ["exchange"], registry=REGISTRY)
cache_misses = Counter(
    _P + "cache_misses", "Cacheable exchange requests that went to the exchange", ["exchange"], registry=REGISTRY)
cache_evictions = Counter(
    _P + "cache_evictions", "Cached responses evicted because cache.max_size was reached",
    ["exchange"], registry=REGISTRY)
cache_entries = Gauge(
    _P + "cache_entries", "Responses held in the response cache", ["exchange"], registry=REGISTRY)
cache_failures = Counter(
    _P + "cache_failures", "Response cache failures (CACHE_001); each fell back to a fresh request",
    ["exchange"], registry=REGISTRY)
staleness = Gauge(
    _P + "staleness_seconds", "Seconds since the exchange timestamp last advanced",
    ["exchange", "kind"], registry=REGISTRY)
stale_symbols = Gauge(
    _P + "stale_symbols", "Symbols whose exchange timestamp has not moved for 3 intervals",
    ["exchange", "kind"], registry=REGISTRY)
clock_skew = Gauge(
    _P + "clock_skew_seconds", "Exchange timestamp minus local receive time (latest response)",
    ["exchange"], registry=REGISTRY)
stream_state = Gauge(
    _P + "stream_state", "Websocket stream of an exchange: 0 down (REST fallback), 1 connecting, 2 up",
    ["exchange"], registry=REGISTRY)
stream_connections = Gauge(
    _P + "stream_connections", "Websocket connections of an exchange, by state (up, down)",
    ["exchange", "state"], registry=REGISTRY)
stream_updates = Counter(
    _P + "stream_updates", "Symbol updates taken from websocket streams (after conflation)",
    ["exchange"], registry=REGISTRY)
stream_reconnects = Counter(
    _P + "stream_reconnects", "Websocket sessions started again after one ended or was torn down",
    ["exchange"], registry=REGISTRY)
stream_fallbacks = Counter(
    _P + "stream_fallbacks", "Times an exchange's stream went down and REST polling took over",
    ["exchange"], registry=REGISTRY)
stream_lag = Gauge(
    _P + "stream_lag_seconds",
    "How late the freshest record of the last sweep came: its receive time minus its exchange time",
    ["exchange"], registry=REGISTRY)
stream_last_frame_age = Gauge(
    _P + "stream_last_frame_age_seconds", "Seconds since the exchange's websockets last received a frame",
    ["exchange"], registry=REGISTRY)
shard_info = Gauge(
    _P + "shard_info", "Always 1: which shard of how many this daemon is (shard.index, shard.count)",
    ["index", "count"], registry=REGISTRY)
symbols_owned = Gauge(
    _P + "symbols_owned", "Symbols of an exchange this shard collects (all of them when unsharded)",
    ["exchange"], registry=REGISTRY)


@lru_cache(maxsize=4096)
def child(metric: Counter | Gauge | Histogram, *labels: str):
    """`metric.labels(*labels)`, looked up once (a poll or a request asks for the same few again
    and again); a child lives as long as its metric, and an evicted one is looked up anew."""
    return metric.labels(*labels)
