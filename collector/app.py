"""Wiring and lifecycle: builds the parts from AppConfig, runs them, stops them in order.

Start-up: the journal (local disk: repaired, old spool imported), the health server, the
local SQLite file, the writers (which connect to their sinks in the background: a remote sink
that refuses or never answers never holds up the start), exchange sources (markets loaded),
then the scheduler; READY=1 goes to systemd once all of that is up. Shutdown (SIGTERM/SIGINT):
stop polling, then the exit stack closes in reverse order — sources, the writers (all at once,
each writing what it can within `shutdown_timeout`; the rest stays in the journal), the health
server, and last the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any

import ccxt.pro as ccxt_pro
import structlog

from collector import metrics, runner
from collector.config import AppConfig
from collector.errors import CollectorError, ConfigError, ErrorCode
from collector.exchanges.source import ExchangeSource
from collector.journal import Journal
from collector.ops.health import HealthServer
from collector.ops.latest import LatestRecords
from collector.ops.systemd import Notifier
from collector.pipeline import Pipeline
from collector.records import Record
from collector.scheduler import Scheduler, poll_intervals
from collector.shard import symbols_digest
from collector.sinks.enabled import build_sinks
from collector.sinks.writer import BatchWriter
from collector.streams import ccxtpro
from collector.streams.ccxtpro import UnreadableFrames
from collector.streams.owner import StreamOwner

log = structlog.get_logger(__name__)
STATUS_EVERY_S = 10.0
RESTART_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)


class Daemon:
    """The running daemon: owns the parts and answers /health's questions about them."""

    def __init__(self, config: AppConfig, *, environ: Mapping[str, str] = os.environ,
                 settle_heap: bool = False) -> None:
        self.config = config
        self.environ = environ
        self._settle_heap = settle_heap  # the process is the daemon's own (runner.settle_heap)
        self.started_at = time.time()
        self.writers: list[BatchWriter] = []
        self.sources: list[ExchangeSource] = []
        self.streams: list[StreamOwner] = []  # exchanges in `mode: stream`
        self.pipeline: Pipeline | None = None
        self.journal: Journal | None = None
        self.latest = LatestRecords()  # what the status page shows was collected
        self.running = False  # past start-up: READY=1 was sent
        self.sink_misconfigured = asyncio.Event()  # a writer's sink refuses the config (MQ_002)

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> int:
        """Run until `stop` is set (or one round with `once`); the exit code."""
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(
            self.config.performance.worker_threads, thread_name_prefix="collector-worker"))
        loop.set_exception_handler(UnreadableFrames())
        try:
            async with AsyncExitStack() as stack:
                notifier = await stack.enter_async_context(Notifier(self.environ))
                await self._start(stack, once=once)
                if once:
                    return await self._run_once()
                frozen = runner.settle_heap() if self._settle_heap else 0
                notifier.ready(self.status_line())
                self.running = True
                log.info("collector_started", exchanges=[s.name for s in self.sources],
                         sinks=[w.sink.name for w in self.writers],
                         startup_s=round(time.time() - self.started_at, 3), heap_frozen_objects=frozen)
                await self._run_until(stop, notifier)
                notifier.stopping()
                log.info("collector_stopping")
        except CollectorError as err:
            log.error(self._failed_event, error_code=err.code, error=str(err.args[0]))
            return 1
        except Exception as err:
            log.exception(self._failed_event, error_code=ErrorCode.APP_001, error=str(err))
            return 1
        log.info("collector_stopped", uptime_s=round(time.time() - self.started_at, 1))
        return 0

    @property
    def _failed_event(self) -> str:
        return "daemon_failed" if self.running else "startup_failed"

    async def _start(self, stack: AsyncExitStack, *, once: bool) -> None:
        config = self.config
        batch = config.batch_processing
        self.journal = Journal(batch.spool_dir, max_bytes=batch.spool_max_bytes, frame_records=batch.batch_size)
        await stack.enter_async_context(self.journal)
        if config.health.enabled and not once:
            await stack.enter_async_context(
                HealthServer(config.health, self.snapshot, started_at=self.started_at,
                             symbols=self.owned_symbols))
            metrics.shard_info.labels(str(config.shard.number), str(config.shard.count)).set(1)
        await self._start_writers(stack)
        self.pipeline = Pipeline(self.journal, self.writers)
        semaphore = asyncio.Semaphore(config.performance.max_concurrent_requests)
        sources = [
            ExchangeSource(name, exchange, performance=config.performance, cache=config.cache,
                           retry=config.retry, circuit_breaker=config.circuit_breaker, semaphore=semaphore,
                           funding_history_days=config.funding_history_days,
                           settled=self.journal.settled(name), shard=config.shard)
            for name, exchange in config.enabled_exchanges.items()
        ]
        # Markets load concurrently: one slow exchange must not hold up the others' start.
        try:
            async with asyncio.TaskGroup() as tasks:
                for source in sources:
                    tasks.create_task(stack.enter_async_context(source), name=f"open:{source.name}")
        except* CollectorError as group:
            raise group.exceptions[0] from None
        self.sources = sources
        self.streams = self._build_streams(sources)
        streaming = {owner.name for owner in self.streams}
        self.scheduler = Scheduler([s for s in sources if s.name not in streaming], intervals=self.intervals,
                                   emit=self._emit)

    async def _emit(self, records: Sequence[Record]) -> int:
        accepted = await self.pipeline.publish(records)  # journaled: collected
        self.latest.observe(records)
        return accepted

    def _build_streams(self, sources: list[ExchangeSource]) -> list[StreamOwner]:
        """A stream owner per exchange in `mode: stream`; it polls REST itself while its stream is down."""
        config = self.config
        owners = []
        for source in sources:
            exchange = config.exchange_configs[source.name]
            if exchange.mode != "stream":
                continue
            if not StreamOwner.supports(source.exchange_id):
                raise ConfigError([(ErrorCode.CONFIG_003, (
                    f"exchange_configs.{source.name}.mode: stream is not available for ccxt id "
                    f"{source.exchange_id!r} (streaming speaks binanceusdm, bybit and okx); use poll"))])
            if exchange.decoder == "ccxt":
                ccxtpro.check_supported(getattr(ccxt_pro, source.exchange_id))
            owners.append(StreamOwner(source, exchange, ticker_interval=config.ticker_interval,
                                      retry=config.retry, publish=self._emit))
        return owners

    async def _start_writers(self, stack: AsyncExitStack) -> None:
        config = self.config
        for sink in build_sinks(config):
            if sink.name == "sqlite":
                # A local file that cannot be opened (bad path, read-only disk) is a fault to fix,
                # not an outage to wait out: fail the start instead of journaling forever.
                await sink.open()
            self.writers.append(BatchWriter(
                sink, self.journal, config.batch_processing, config.retry, config.circuit_breaker,
                stop_timeout=config.batch_processing.shutdown_timeout,
                connect_timeout=config.database.connect_timeout, write_timeout=config.database.timeout,
                on_misconfigured=self.sink_misconfigured.set))
        if config.parquet.enabled:
            from collector.sinks.parquet.sink import ArchiveWriter
            self.writers.append(ArchiveWriter(config.parquet, self.journal,
                                              stop_timeout=config.batch_processing.shutdown_timeout,
                                              queue_max=config.batch_processing.queue_max_size))
        stack.push_async_callback(self._stop_writers)
        for writer in self.writers:
            await writer.__aenter__()

    async def _stop_writers(self) -> None:
        """Every writer at once, so a stop takes one `shutdown_timeout`, not one per sink."""
        if self.journal is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.batch_processing.shutdown_timeout):
                    await self.journal.settle()
        await asyncio.gather(*(writer.stop() for writer in self.writers))

    def halt(self, timeout: float) -> dict[str, int]:
        """A forced exit: the journal stops writing and saves its cursors; what each sink has
        not confirmed (it stays journaled and is delivered at the next start)."""
        if self.journal is None:
            return {}
        self.journal.halt(timeout)
        return {writer.name: self.journal.backlog(writer.name) for writer in self.writers}

    @property
    def intervals(self) -> dict[str, float]:
        return poll_intervals(self.config)

    async def _run_once(self) -> int:
        # One REST round of every exchange, streaming ones included: --once takes a snapshot.
        collected = await Scheduler(self.sources, intervals=self.intervals, emit=self._emit).run_once()
        await self.pipeline.flush()
        self._raise_if_misconfigured()
        log.info("round_done", records=collected)
        return 0 if collected else 1

    def _raise_if_misconfigured(self) -> None:
        """A sink that refuses the config (MQ_002) ends the run with exit 1, as a bad config does."""
        for writer in self.writers:
            if writer.misconfigured is not None:
                raise writer.misconfigured

    async def _run_until(self, stop: asyncio.Event, notifier: Notifier) -> None:
        async with asyncio.TaskGroup() as tasks:
            polling = tasks.create_task(self._supervise(), name="scheduler")
            status = tasks.create_task(self._report_status(notifier), name="status")
            streams = [tasks.create_task(owner.run(), name=f"stream:{owner.name}") for owner in self.streams]
            refused = tasks.create_task(self._stop_when_misconfigured(stop), name="sinks:misconfigured")
            await stop.wait()
            for task in (polling, status, refused, *streams):
                task.cancel()
        self._raise_if_misconfigured()

    async def _stop_when_misconfigured(self, stop: asyncio.Event) -> None:
        await self.sink_misconfigured.wait()
        stop.set()

    async def _supervise(self) -> None:
        """Run the scheduler; an unexpected crash is logged once and the scheduler restarted."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self.scheduler.run()
                return
            except Exception:
                if time.monotonic() - started > 300:
                    failures = 0
                delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S) - 1)]
                failures += 1
                log.exception("scheduler_crashed", error_code=ErrorCode.APP_002, restart_in_s=delay)
                await asyncio.sleep(delay)

    async def _report_status(self, notifier: Notifier) -> None:
        while True:
            await asyncio.sleep(STATUS_EVERY_S)
            notifier.status(self.status_line())

    def status_line(self) -> str:
        sinks = ", ".join(f"{w.sink.name} {w.status()['state']}" for w in self.writers)
        collected = self.pipeline.accepted if self.pipeline else 0
        return f"{len(self.sources)} exchanges, {collected} records collected; sinks: {sinks}"

    def _exchange_status(self, source: ExchangeSource) -> dict[str, Any]:
        owner = next((o for o in self.streams if o.name == source.name), None)
        mode = {"mode": "stream", "stream": owner.status()} if owner else {"mode": "poll"}
        return {**source.status(), **mode, "symbols_digest": symbols_digest(source.symbols)}

    def owned_symbols(self) -> dict[str, list[str]]:
        """GET /symbols: each exchange's symbols this shard owns (`--status` fleet checks coverage)."""
        return {source.name: sorted(source.symbols) for source in self.sources}

    def snapshot(self) -> dict[str, Any]:
        sinks = {w.sink.name: w.status() for w in self.writers}
        flushes = [s["last_flush"] for s in sinks.values() if s.get("last_flush")]
        return {
            "shard": {"index": self.config.shard.number, "count": self.config.shard.count},
            "exchanges": {source.name: {**self._exchange_status(source),
                                        "records_per_min": self.latest.records_per_min(source.name)}
                          for source in self.sources},
            "sinks": sinks,
            "journal": self.journal.status() if self.journal else None,
            "intervals": self.intervals,
            "last_collected": self.pipeline.last_publish if self.pipeline else None,
            "last_written": max(flushes) if flushes else None,
            "latest": self.latest.snapshot(),
        }
