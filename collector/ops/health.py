"""/health, /metrics and /symbols (the symbols this shard owns): an aiohttp server inside the daemon's own event loop.

`health_report` is a pure function of the daemon's snapshot, so the status rules are tested
without a server; `HealthServer` only serves it. Because the server shares the loop with the
collectors, a blocked loop shows up as a /health that does not answer — which is what a
monitor should see.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable
from typing import Any, Self

import prometheus_client
import psutil
import structlog
from aiohttp import web

from collector import metrics
from collector.config import HealthConfig
from collector.errors import CollectorError, ErrorCode
from collector.ops.status_page import render_page

log = structlog.get_logger(__name__)

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
# How many of the shortest interval may pass without a collection / a write before the daemon
# counts as failing; the same number of intervals is granted after start-up.
SILENCE_INTERVALS = 3
# "connecting": a sink's first connect is under way (it happens in the background at start).
_SINK_OK_STATES = frozenset({"ok", "connecting"})
_EXCHANGE_FIELDS = ("breaker", "last_success", "consecutive_failures", "stale")
_SINK_FIELDS = ("state", "queue_depth", "spooled_records", "last_flush")


def exchange_problems(name: str, exchange: dict[str, Any]) -> list[str]:
    """Why this exchange is not healthy (empty when it is)."""
    problems = []
    if exchange.get("breaker", "closed") != "closed":
        problems.append(f"exchange {name}: circuit breaker {exchange['breaker']}")
    failures = exchange.get("consecutive_failures", 0)
    never_reached = exchange.get("last_success", 0) is None
    if failures > 0:
        code = f" ({exchange['error_code']})" if exchange.get("error_code") else ""
        what = "never reached since start, " if never_reached else ""
        problems.append(f"exchange {name}: {what}{failures} consecutive failures{code}")
    if exchange.get("stale") and not never_reached:
        problems.append(f"exchange {name}: data is stale")
    stream = exchange.get("stream") or {}
    if stream.get("state") == "down":
        problems.append(f"exchange {name}: stream down ({stream.get('error_code')}), REST fallback")
    if stream.get("lagging"):
        problems.append(f"exchange {name}: stream records come {stream.get('lag_s', 0):.0f}s after their "
                        f"exchange time (STREAM_004)")
    return problems


def sink_problems(name: str, sink: dict[str, Any]) -> list[str]:
    state = sink.get("state", "ok")
    if state == "lagging":
        return [f"sink {name}: lagging, oldest unwritten record {sink.get('lag_s', 0):.0f}s old "
                f"(limit {sink.get('lag_threshold_s', 0):.0f}s)"]
    return [] if state in _SINK_OK_STATES else [f"sink {name}: {state}"]


def silence_problems(snapshot: dict[str, Any], *, now: float, uptime_s: float) -> list[str]:
    """Nothing collected / nothing written for SILENCE_INTERVALS of the shortest interval."""
    intervals = [float(v) for v in snapshot.get("intervals", {}).values()]
    if not intervals:
        return []
    window = SILENCE_INTERVALS * min(intervals)
    if uptime_s < window:
        return []  # start-up grace: the first rounds may not have finished yet
    checks = [("collected", "last_collected")]
    if snapshot.get("sinks"):
        checks.append(("written", "last_written"))
    problems = []
    for verb, key in checks:
        last = snapshot.get(key)
        if last is None:
            problems.append(f"nothing {verb} since start ({uptime_s:.0f}s ago)")
        elif now - last > window:
            problems.append(f"nothing {verb} for {now - last:.0f}s (limit {window:.0f}s)")
    return problems


def health_report(
    snapshot: dict[str, Any], *, now: float, uptime_s: float, process: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """The /health document and its HTTP status (200 ok/degraded, 503 failing)."""
    exchanges = snapshot.get("exchanges", {})
    sinks = snapshot.get("sinks", {})
    per_exchange = {name: exchange_problems(name, ex) for name, ex in exchanges.items()}
    per_sink = {name: sink_problems(name, sink) for name, sink in sinks.items()}
    failing = silence_problems(snapshot, now=now, uptime_s=uptime_s)
    # One failed poll or a spooling sink is degraded; failing is when nothing can get through.
    if exchanges and all(ex.get("breaker") == "open" for ex in exchanges.values()):
        failing.append("every exchange is failing")
    if sinks and all(sink.get("state") == "down" for sink in sinks.values()):
        failing.append("every sink is failing")
    degraded = [p for problems in (*per_exchange.values(), *per_sink.values()) for p in problems]
    status = FAILING if failing else DEGRADED if degraded else OK
    document = {
        "status": status,
        "problems": failing + degraded,
        "shard": snapshot.get("shard") or {"index": 0, "count": 1},
        "uptime_s": round(uptime_s, 3),
        "last_collected": snapshot.get("last_collected"),
        "last_written": snapshot.get("last_written"),
        "intervals": dict(snapshot.get("intervals", {})),
        "exchanges": {name: _component(ex, _EXCHANGE_FIELDS, not per_exchange[name])
                      for name, ex in exchanges.items()},
        "sinks": {name: _component(sink, _SINK_FIELDS, not per_sink[name])
                  for name, sink in sinks.items()},
        "journal": snapshot.get("journal"),
        "process": process,
        "latest": dict(snapshot.get("latest") or {}),
    }
    return document, 503 if status == FAILING else 200


def _component(fields: dict[str, Any], required: tuple[str, ...], healthy: bool) -> dict[str, Any]:
    """The snapshot's fields, with the contract's keys always present (null when unknown)."""
    return {**{key: None for key in required}, **fields, "healthy": healthy}


class ProcessProbe:
    """RSS and CPU of this process; cpu_percent is measured since the previous call, not by
    sleeping, so it never blocks the loop."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(interval=None)  # the first call only sets the baseline

    def sample(self) -> dict[str, float]:
        with self._process.oneshot():
            rss = self._process.memory_info().rss
            cpu = self._process.cpu_percent(interval=None)
        return {"rss_mb": round(rss / 1_048_576, 1), "cpu_percent": round(cpu, 1)}


class HealthServer:
    """Serves GET /health, GET /metrics and GET / on config.host:config.port while entered."""

    def __init__(
        self,
        config: HealthConfig,
        snapshot: Callable[[], dict[str, Any]],
        *,
        started_at: float | None = None,
        symbols: Callable[[], dict[str, list[str]]] = dict,
    ) -> None:
        self.config = config
        self._snapshot = snapshot
        self._symbols = symbols
        self._started_at = time.time() if started_at is None else started_at
        self._probe = ProcessProbe()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/symbols", self._owned_symbols)
        # access_log=None: a scrape every few seconds must not flood the daemon's log.
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.config.host, self.config.port).start()
        except OSError as err:
            await runner.cleanup()
            raise self._start_error(err) from err
        self._runner = runner
        log.info("health_server_started", url=self.url)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            log.info("health_server_stopped", url=self.url)

    def _start_error(self, err: OSError) -> CollectorError:
        where = f"{self.config.host}:{self.config.port}"
        if err.errno == errno.EADDRINUSE:
            message = f"health port {where} is already in use; stop the other process or set health.port"
        else:
            message = (f"health server cannot listen on {where}: {err.strerror or err}; "
                       "check health.host and health.port")
        # Not logged here: the app logs a start-up failure once, with its code.
        return CollectorError(message, code=ErrorCode.HEALTH_001)

    def _report(self) -> tuple[dict[str, Any], int, float]:
        now = time.time()
        document, status = health_report(
            self._snapshot(), now=now, uptime_s=now - self._started_at,
            process=self._probe.sample())
        return document, status, now

    async def _index(self, request: web.Request) -> web.Response:
        document, _, now = self._report()
        return web.Response(text=render_page(document, now=now), content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def _health(self, request: web.Request) -> web.Response:
        document, status, _ = self._report()
        return web.json_response(document, status=status)

    async def _owned_symbols(self, request: web.Request) -> web.Response:
        # Apart from /health, which is polled often: ~30 kB with 1,500 symbols per exchange.
        return web.json_response(self._symbols())

    async def _metrics(self, request: web.Request) -> web.Response:
        # ~10 ms of CPU and /proc reads per scrape: off the loop, so polls keep their timing.
        body = await asyncio.to_thread(prometheus_client.generate_latest, metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})
