"""One batching writer per sink: an in-memory queue in front, the on-disk spool behind.

`put()` never blocks and never waits for the sink. Records take one of two ways:

- direct (the sink is up, nothing is spooled): a bounded queue; the `write:<sink>` task writes a
  batch when `batch_size` records wait or `flush_interval` has passed since the first of them,
  retrying with backoff behind the sink's circuit breaker.
- spooled (the sink is down, its queue overflowed, or older records are still on disk): records
  go to an overflow list that the `spill:<sink>` task appends to the spool, and the writer
  replays the spool oldest first. Only when the spool is empty again do fresh records go direct.

Ordering: spool-first. While anything is on disk, fresh records are appended behind it, so the
sink receives records in the order they were collected. The one exception: a batch that fails
after its queue had already overflowed is spooled behind the overflowed records.

An outage is logged once when it starts (the sink's DB_001/MQ_001) and once when it ends
(`sink_recovered` with how many records were spooled meanwhile). While down, the writer probes
the sink with one batch from the spool, spaced by the retry backoff and the breaker's pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Self

import structlog

from collector import metrics
from collector.config import BatchProcessingConfig, CircuitBreakerConfig, RetryConfig
from collector.errors import ErrorCode, SinkError
from collector.records import Record
from collector.resilience.breaker import CircuitBreaker
from collector.resilience.retry import RetryPolicy, retry
from collector.sinks.base import Sink
from collector.sinks.spool import Spool

log = structlog.get_logger(__name__)

_TICK = 0.05  # longest sleep while a deadline of the (injectable) clock is pending
_SPILL_CHUNK = 50_000  # records per spool append by the spill task
# Records waiting for the spill task beyond the queue's own size. Reached only when the disk
# cannot keep up with collection at all; the newest are then dropped, counted, logged.
_OVERFLOW_SLACK = 100_000
_FAILURES = (SinkError, TimeoutError)


class BatchWriter:
    def __init__(
        self,
        sink: Sink,
        batch: BatchProcessingConfig,
        retry: RetryConfig,
        breaker: CircuitBreakerConfig,
        *,
        stop_timeout: float = 10.0,
        write_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self._batch_size = batch.batch_size
        self._flush_interval = batch.flush_interval
        self._queue_max = batch.queue_max_size
        self._policy = RetryPolicy.from_config(retry)
        self._breaker = CircuitBreaker(
            f"sink:{sink.name}", failure_threshold=breaker.failure_threshold,
            recovery_timeout=breaker.recovery_timeout, clock=clock)
        self._spool = Spool(batch.spool_dir, sink.name, batch.spool_max_bytes)
        self._stop_timeout = stop_timeout
        self._write_timeout = write_timeout
        self._clock = clock
        self._queue: deque[Record] = deque()
        self._overflow: list[Record] = []
        self._spilling = 0  # records taken by the spill task, not yet on disk
        self._in_flight: list[Record] | None = None  # a batch from the queue being written
        self._first_at = 0.0
        self._flushing = 0
        self._spooling = False
        self._down = False
        self._opened = False
        self._state = "starting"
        self._failures = 0
        self._next_attempt_at = 0.0
        self._spooled_in_outage = 0
        self._overflow_drops = 0
        self._wakeup = asyncio.Event()  # the write task has something new to look at
        self._spill_wakeup = asyncio.Event()
        self._progress = asyncio.Event()  # something was written or spooled
        self._stopping_spill = False
        self._accepting = True
        self._tasks: list[asyncio.Task[None]] = []
        self.last_flush: float | None = None
        self.last_error: str | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._spool.open()
        if self._spool.records:
            self._spooling = True
            log.info("spool_found", sink=self.name, spooled_records=self._spool.records)
        try:
            async with asyncio.timeout(self._stop_timeout):
                await self.sink.open()
            self._opened = True
        except (*_FAILURES, OSError) as err:
            self._on_failure(err)
        self._state = "running"
        self._tasks = [
            asyncio.create_task(self._run(), name=f"write:{self.name}"),
            asyncio.create_task(self._spill_loop(), name=f"spill:{self.name}"),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._state = "stopping"
        try:
            async with asyncio.timeout(self._stop_timeout):
                await self.flush()
        except TimeoutError:
            log.warning("sink_flush_timeout", sink=self.name, error_code=self.sink.error_code,
                        stop_timeout=self._stop_timeout, queue_depth=self._memory_depth())
        await self._stop_tasks()
        self._accepting = False
        leftover = (self._in_flight or []) + list(self._queue) + self._overflow
        self._in_flight, self._overflow = None, []
        self._queue.clear()
        if leftover:
            await self._spool_records(leftover)
            log.info("records_spooled_at_shutdown", sink=self.name, records=len(leftover))
        await self._close_sink()
        await self._spool.close()
        self._state = "stopped"
        self._update_gauges()

    async def _stop_tasks(self) -> None:
        write_task, spill_task = self._tasks
        write_task.cancel()
        self._stopping_spill = True
        self._spill_wakeup.set()
        with contextlib.suppress(asyncio.CancelledError):
            await write_task
        await spill_task  # finishes the append it is in: never cut a spool write short

    async def _close_sink(self) -> None:
        try:
            async with asyncio.timeout(self._stop_timeout):
                await self.sink.close()
        except (*_FAILURES, OSError) as err:
            log.warning("sink_close_failed", sink=self.name, error_code=self.sink.error_code,
                        error=_one_line(err))

    # --- the collection side: never blocks ------------------------------------------------

    def put(self, record: Record) -> None:
        self.put_many((record,))

    def put_many(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if not self._accepting:
            self._drop(records, "closed")
        elif self._spooling or len(self._queue) + len(records) > self._queue_max:
            self._to_overflow(records)
        else:
            if not self._queue:
                self._first_at = self._clock()
            self._queue.extend(records)
            if len(self._queue) == len(records) or len(self._queue) >= self._batch_size:
                self._wakeup.set()
        metrics.queue_depth.labels(sink=self.name).set(self._memory_depth())

    def _to_overflow(self, records: Sequence[Record]) -> None:
        if not self._spooling:
            # From now on everything goes through the spool, the queued records first.
            self._spooling = True
            self._overflow.extend(self._queue)
            self._queue.clear()
        room = 2 * self._queue_max + _OVERFLOW_SLACK - len(self._overflow)
        if len(records) > room:
            self._drop(records[max(room, 0):], "spool_backlog")
            records = records[:max(room, 0)]
        self._overflow.extend(records)
        self._spill_wakeup.set()
        self._wakeup.set()

    def _drop(self, records: Sequence[Record], reason: str) -> None:
        metrics.records_dropped.labels(sink=self.name, reason=reason).inc(len(records))
        if not self._overflow_drops:
            log.error("records_dropped", sink=self.name, error_code=ErrorCode.SPOOL_001,
                      reason=reason, records=len(records))
        self._overflow_drops += len(records)

    # --- flush and status -----------------------------------------------------------------

    async def flush(self) -> None:
        """Return once every record put so far is written, or, while the sink is down, on disk."""
        self._flushing += 1
        self._wakeup.set()
        try:
            while not self._settled():
                self._progress.clear()
                await self._progress.wait()
        finally:
            self._flushing -= 1

    def _settled(self) -> bool:
        in_memory = self._queue or self._overflow or self._spilling or self._in_flight
        return not in_memory and (self._down or not self._spooling)

    def status(self) -> dict[str, Any]:
        return {
            "state": self._public_state(),
            "queue_depth": self._memory_depth(),
            "spooled_records": self._spool.records,
            "last_flush": self.last_flush,
            "last_error": self.last_error,
        }

    def _public_state(self) -> str:
        if self._state != "running":
            return self._state
        if self._down:
            return "down"
        return "spooling" if self._spooling else "ok"

    def _memory_depth(self) -> int:
        return len(self._queue) + len(self._overflow) + self._spilling

    def _update_gauges(self) -> None:
        metrics.queue_depth.labels(sink=self.name).set(self._memory_depth())

    # --- the write task -------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except Exception as err:
                # A spool that cannot be read (disk error) or a bug: say so, keep the records, go on.
                code = ErrorCode.SPOOL_001 if isinstance(err, OSError) else ErrorCode.APP_002
                log.exception("writer_step_failed", sink=self.name, error_code=code,
                              error=_one_line(err))
                await asyncio.sleep(1.0)
            self._update_gauges()
            self._progress.set()

    async def _step(self) -> None:
        if self._down:
            await self._wait_for_probe()
        if self._spooling:
            await self._replay_step()
            return
        batch = await self._next_batch()
        if batch:
            self._in_flight = batch
            if not await self._deliver(batch):
                self._divert(batch)
            self._in_flight = None

    async def _next_batch(self) -> list[Record]:
        while not self._queue:
            if self._spooling:
                return []
            await self._wait_for_wakeup(None)
        deadline = self._first_at + self._flush_interval
        while (len(self._queue) < self._batch_size and not self._flushing and not self._spooling
               and self._clock() < deadline):
            await self._wait_for_wakeup(min(_TICK, deadline - self._clock()))
        if self._spooling:
            return []  # the queue moved to the overflow meanwhile
        queue = self._queue
        batch = [queue.popleft() for _ in range(min(self._batch_size, len(queue)))]
        if queue:
            self._first_at = self._clock()
        return batch

    async def _replay_step(self) -> None:
        chunk = await self._spool.read(self._batch_size)
        if chunk.records:
            if await self._deliver(chunk.records):
                await self._spool.confirm(chunk)
                self._end_spooling_if_drained()
        elif chunk.seq:
            await self._spool.confirm(chunk)  # only damaged frames were left there
            self._end_spooling_if_drained()
        elif self._down and not self._opened:
            await self._deliver([])  # nothing to write yet: probe by opening the sink
        elif not self._end_spooling_if_drained():
            await self._wait_for_wakeup(_TICK)

    def _end_spooling_if_drained(self) -> bool:
        """Back to the direct way once the spool is empty and the sink up: in the same step as the
        last confirm, so a flush that returns then never sees a drained writer still "spooling"."""
        if self._down or self._overflow or self._spilling or self._spool.records:
            return False
        self._spooling = False
        log.info("spool_drained", sink=self.name, dropped_records=self._overflow_drops)
        self._overflow_drops = 0
        return True

    async def _wait_for_wakeup(self, timeout: float | None) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wakeup.wait()

    async def _wait_for_probe(self) -> None:
        while (wait := max(self._next_attempt_at - self._clock(), self._breaker.retry_in())) > 0:
            await asyncio.sleep(min(_TICK, wait))

    def _divert(self, batch: list[Record]) -> None:
        """A batch the sink did not take goes to the spool, ahead of what is still queued."""
        self._spooling = True
        self._overflow[0:0] = batch + list(self._queue)
        self._queue.clear()
        self._spill_wakeup.set()

    # --- one write, its outcome -----------------------------------------------------------

    async def _deliver(self, records: list[Record]) -> bool:
        started = time.perf_counter()
        try:
            if self._down:
                if not self._breaker.allow():
                    await asyncio.sleep(_TICK)
                    return False
                await self._attempt(records)  # a probe: one try, paced by backoff and breaker
            else:
                await retry(lambda: self._attempt(records), self._policy,
                            retryable=lambda err: isinstance(err, _FAILURES),
                            what="sink_write", sink=self.name)
        except _FAILURES as err:
            self._on_failure(err)
            return False
        except Exception as err:
            # A bug in the sink, not an outage: keep the records, show the traceback once.
            log.exception("sink_write_crashed", sink=self.name, error_code=ErrorCode.APP_002)
            self._on_failure(err)
            return False
        self._on_success(len(records), time.perf_counter() - started)
        return True

    async def _attempt(self, records: list[Record]) -> None:
        async with asyncio.timeout(self._write_timeout):
            if not self._opened:
                await self.sink.open()
                self._opened = True
            if records:
                await self.sink.write(records)

    def _on_success(self, count: int, elapsed: float) -> None:
        self._breaker.record_success()
        self._failures = 0
        self.last_flush = time.time()
        if count:
            metrics.records_written.labels(sink=self.name).inc(count)
            metrics.sink_write_latency.labels(sink=self.name).observe(elapsed)
        if self._down:
            self._down = False
            log.info("sink_recovered", sink=self.name, spooled_records=self._spooled_in_outage,
                     pending_records=self._spool.records)

    def _on_failure(self, err: BaseException) -> None:
        self.last_error = _one_line(err)
        self._breaker.record_failure(self.last_error)
        self._failures += 1
        self._next_attempt_at = self._clock() + self._policy.backoff(self._failures)
        if not self._down:
            self._down = True
            self._spooling = True
            self._spooled_in_outage = 0
            log.error("sink_down", sink=self.name, error_code=self.sink.error_code,
                      error=self.last_error, spooled_records=self._spool.records)

    # --- the spill task -------------------------------------------------------------------

    async def _spill_loop(self) -> None:
        while self._overflow or not self._stopping_spill:
            if not self._overflow:
                self._spill_wakeup.clear()
                await self._spill_wakeup.wait()
                continue
            chunk = self._overflow[:_SPILL_CHUNK]
            del self._overflow[:_SPILL_CHUNK]
            self._spilling = len(chunk)
            try:
                await self._spool_records(chunk)
            finally:
                self._spilling = 0
                self._wakeup.set()
                self._progress.set()

    async def _spool_records(self, records: Sequence[Record]) -> None:
        try:
            kept = await self._spool.append(records, frame_records=self._batch_size)
        except Exception as err:
            # Disk full, permissions, or a record that cannot be serialized: count it, say it.
            metrics.records_dropped.labels(sink=self.name, reason="spool_error").inc(len(records))
            log.exception("spool_write_failed", sink=self.name, error_code=ErrorCode.SPOOL_001,
                          error=_one_line(err), dropped_records=len(records))
            return
        self._spooled_in_outage += kept


def _one_line(err: BaseException) -> str:
    text = str(err).replace("\n", " ")[:300]
    return text or type(err).__name__

