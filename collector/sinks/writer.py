"""One batching writer per sink: reads the journal, writes batches, moves the sink's cursor.

The way of a record: the pipeline journals it (fsync), the journal `offer()`s it to every
writer, and a writer that is caught up keeps it in its read-ahead (memory, bounded by
`queue_max_size`); a writer that is behind — its sink was down, slow, or the daemon restarted —
ignores the offer and reads the journal from disk instead, so RSS stays flat however far behind
a sink is. A batch is written when `batch_size` records wait or `flush_interval` has passed
since the oldest of them; only after the sink confirmed it does the writer commit the cursor
past it. A failed batch is kept and tried again as it was (through `Delivery`'s retries, the
breaker and probes), so the sink receives records in journal order.

While the sink is down the read-ahead is let go where the records are on disk (what a full
journal dropped meanwhile exists only here, and stays), and the writer probes with the one batch
it holds. `/health` shows the sink `lagging` when its oldest
unwritten record is older than max(3 × flush_interval, 10 s).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any, Self

import structlog

from collector import metrics
from collector.config import BatchProcessingConfig, CircuitBreakerConfig, RetryConfig
from collector.errors import ErrorCode, SinkError, one_line
from collector.journal import Journal
from collector.records import Record
from collector.sinks.base import Sink
from collector.sinks.delivery import Delivery
from collector.sinks.progress import JournalProgress

log = structlog.get_logger(__name__)

_TICK = 0.05  # longest sleep while a deadline of the (injectable) clock is pending
_CANCEL_GRACE_S = 1.0  # a write that ignores cancellation for longer is abandoned at stop
_CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class Batch:
    records: list[Record]
    end_seq: int  # the sink's cursor once this batch is confirmed


class BatchWriter:
    def __init__(
        self, sink: Sink, journal: Journal, batch: BatchProcessingConfig, retry: RetryConfig,
        breaker: CircuitBreakerConfig, *, stop_timeout: float = 10.0, connect_timeout: float = 10.0,
        write_timeout: float = 60.0, clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time, on_misconfigured: Callable[[], None] | None = None,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self._journal = journal
        self._delivery = Delivery(sink, retry, breaker, connect_timeout=connect_timeout,
                                  write_timeout=write_timeout, clock=clock)
        self._batch_size = batch.batch_size
        self._flush_interval = batch.flush_interval
        self._queue_max = max(batch.queue_max_size, batch.batch_size)
        self.lag_threshold = max(3 * batch.flush_interval, 10.0)
        self._stop_timeout = stop_timeout
        self._clock = clock
        self._ahead: deque[tuple[list[Record], int]] = deque()  # (records, first seq), in order
        self._ahead_count = 0
        self._ahead_since = 0.0
        self._read_seq = 0  # the next record not yet in memory
        self._live = False  # the read-ahead follows the journal's commits
        self._batch: Batch | None = None  # taken from the journal, not confirmed yet
        self._follow = JournalProgress(self.name, journal, wall_clock)
        self._state = "starting"
        self._task: asyncio.Task[None] | None = None
        self._on_misconfigured = on_misconfigured

    # --- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._read_seq = self._journal.attach(self.name, self)
        self._live = self._read_seq >= self._journal.end_seq
        self._state = "running"
        # Connecting is the write task's first step: a sink that is down or stalled never
        # holds up the start, the other sinks or the collection.
        self._task = self._follow.start(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Write what is journaled within `stop_timeout`; the rest stays in the journal."""
        if self._state in ("stopping", "stopped"):
            return
        if self._state == "starting":  # the start failed before this writer was entered
            await self._close_sink()
            self._state = "stopped"
            return
        self._state = "stopping"
        await self._follow.flush_at_stop(self.flush, self._stop_timeout, self.sink.error_code,
                                         "they stay in the journal and are written after the restart")
        if self._task is not None:
            await _cancel(self._task, f"write:{self.name}")
        self._journal.lost(self.name, self._held_and_gone())
        self._journal.detach(self.name)
        await self._close_sink()
        self._state = "stopped"
        self._follow.stopped()

    async def _close_sink(self) -> None:
        closing = asyncio.create_task(self.sink.close(), name=f"close:{self.name}")
        done, _ = await asyncio.wait({closing}, timeout=_CLOSE_TIMEOUT_S)
        if not done:
            log.warning("sink_close_abandoned", sink=self.name, error_code=self.sink.error_code,
                        timeout_s=_CLOSE_TIMEOUT_S)
            await _cancel(closing, f"close:{self.name}")
        elif (err := closing.exception()) is not None:
            log.warning("sink_close_failed", sink=self.name, error_code=self.sink.error_code, error=one_line(err))

    # --- the journal's side: never blocks -------------------------------------------------
    def offer(self, records: list[Record], first_seq: int, frame: bytes) -> None:
        if not self._live or first_seq != self._read_seq:
            self._live = False
            return
        limit = self._batch_size if self._delivery.down else self._queue_max
        if self._ahead_count + len(records) > limit:
            self._live = False  # the rest is read from disk once the sink has caught up
            return
        if not self._ahead:
            self._ahead_since = self._clock()
        self._ahead.append((records, first_seq))
        self._ahead_count += len(records)
        self._read_seq = first_seq + len(records)
        if self._ahead_count == len(records) or self._ahead_count >= self._batch_size:
            self._follow.wakeup.set()
        metrics.queue_depth.labels(sink=self.name).set(self._ahead_count)

    def held_until(self) -> int:
        """Every record from the sink's cursor up to this seq is in memory (batch, read-ahead)."""
        return self._read_seq

    # --- flush and status -----------------------------------------------------------------
    async def flush(self) -> None:
        """Return once every record journaled so far is written, or the sink is down."""
        await self._follow.flush(lambda: self._delivery.down or self._delivery.held)

    @property
    def backlog(self) -> int:
        return self._follow.backlog

    def lag_seconds(self) -> float:
        return self._follow.lag_seconds()

    def status(self) -> dict[str, Any]:
        lag = self.lag_seconds()
        return self._follow.status(
            self._public_state(lag), lag, self.lag_threshold,
            queue_depth=self._ahead_count + (len(self._batch.records) if self._batch else 0),
            last_flush=self._delivery.last_flush, last_error=self._delivery.last_error,
            recovered_at=self._delivery.recovered_at, endpoint=getattr(self.sink, "endpoint", None))

    def _public_state(self, lag: float) -> str:
        if self._state != "running":
            return self._state
        if self._delivery.down:
            return "down"
        if lag > self.lag_threshold:
            return "lagging"
        return "ok" if self._delivery.opened else "connecting"

    # --- the write task -------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except Exception as err:
                # The journal cannot be read (disk error) or a bug: say so, keep the cursor, go on.
                code = ErrorCode.SPOOL_001 if isinstance(err, OSError) else ErrorCode.APP_002
                log.exception("writer_step_failed", sink=self.name, error_code=code, error=one_line(err))
                await asyncio.sleep(1.0)
            metrics.queue_depth.labels(sink=self.name).set(self._ahead_count)
            self._follow.progress.set()

    @property
    def misconfigured(self) -> SinkError | None:
        """The sink refuses what the config declares (MQ_002): this writer stopped trying."""
        return self._delivery.misconfigured

    async def _step(self) -> None:
        if self._delivery.misconfigured is not None:
            if self._on_misconfigured is not None:
                self._on_misconfigured()
            await asyncio.Event().wait()  # until stopped: retrying cannot mend a config
        if self._delivery.down or self._delivery.held:
            await self._delivery.wait_for_probe()
        if self._batch is None:
            self._batch = await self._next_batch()
            if self._batch is None:
                return
        if await self._delivery.deliver(self._batch.records):
            self._journal.commit(self.name, self._batch.end_seq)
            self._batch = None
        elif self._delivery.down and self._ahead:
            self._let_go_of_read_ahead()

    async def _next_batch(self) -> Batch | None:
        if not self._ahead:
            if not self._live:
                return await self._read_from_disk()
            if not self._delivery.opened and not self._delivery.down:
                return Batch([], self._read_seq)  # nothing to write yet: connect now
            await self._follow.wait_for_wakeup(None)
            return None
        deadline = self._ahead_since + self._flush_interval
        while (self._ahead_count < self._batch_size and not self._follow.flushing and self._live
               and self._clock() < deadline):
            await self._follow.wait_for_wakeup(min(_TICK, deadline - self._clock()))
        return self._take()

    async def _read_from_disk(self) -> Batch | None:
        read = await self._journal.read(self.name, self._read_seq, self._batch_size)
        self._read_seq = read.end_seq
        if not read.records:
            if self._read_seq >= self._journal.end_seq:
                self._live = True  # caught up: follow the commits from here
            return Batch([], read.end_seq) if read.end_seq > read.first_seq else None
        metrics.records_spooled.labels(sink=self.name).inc(len(read.records))
        return Batch(read.records, read.end_seq)

    def _take(self) -> Batch:
        parts: list[list[Record]] = []
        taken, end_seq = 0, self._read_seq
        while self._ahead and taken < self._batch_size:
            part, first_seq = self._ahead[0]
            room = self._batch_size - taken
            if len(part) > room:
                self._ahead[0] = (part[room:], first_seq + room)
                part = part[:room]
            else:
                self._ahead.popleft()
            parts.append(part)
            taken += len(part)
            end_seq = first_seq + len(part)
        self._ahead_count -= taken
        if self._ahead:
            self._ahead_since = self._clock()
        # The journal offers the same lists to every writer: concatenate, never extend them.
        records = parts[0] if len(parts) == 1 else list(chain.from_iterable(parts))
        return Batch(records, end_seq)

    def _let_go_of_read_ahead(self) -> None:
        """The sink is down: what waits in memory and is on disk too is let go, to be read back
        once the sink is up; what a full journal dropped meanwhile exists only here and stays."""
        oldest = self._journal.oldest_seq
        kept: deque[tuple[list[Record], int]] = deque()
        for part, first_seq in self._ahead:
            if first_seq >= oldest:
                break
            kept.append((part[:oldest - first_seq], first_seq))
        self._read_seq = kept[-1][1] + len(kept[-1][0]) if kept else self._ahead[0][1]
        self._ahead = kept
        self._ahead_count = sum(len(part) for part, _ in kept)
        self._live = False

    def _held_and_gone(self) -> int:
        """Unwritten records in memory that the journal no longer has: lost once the writer stops."""
        oldest = self._journal.oldest_seq
        held = list(self._ahead)
        if self._batch is not None and self._batch.records:
            held.append((self._batch.records, self._batch.end_seq - len(self._batch.records)))
        return sum(min(len(part), max(0, oldest - first_seq)) for part, first_seq in held)


async def _cancel(task: asyncio.Task[Any], name: str) -> None:
    """Cancel `task` and wait a moment; one that ignores it is left behind (logged), so a sink
    stuck in a call that cannot be interrupted never stops the daemon from stopping."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=_CANCEL_GRACE_S)
    if not done:
        log.warning("task_abandoned", task=name, error_code=ErrorCode.APP_002, grace_s=_CANCEL_GRACE_S)
    elif not task.cancelled() and task.exception() is not None:
        log.warning("task_failed_at_stop", task=name, error=one_line(task.exception()))
