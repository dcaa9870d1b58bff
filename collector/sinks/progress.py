"""What every writer reading the journal shares: its flush, its lag, its status row, its wake-ups.

`BatchWriter` (writer.py) and the archive's `ArchiveWriter` (parquet/sink.py) differ in how they
take and write records, not in how they report progress: both hold one `JournalProgress`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from collector import metrics
from collector.errors import ErrorCode
from collector.journal import Journal

log = structlog.get_logger(__name__)


class JournalProgress:
    def __init__(self, name: str, journal: Journal, wall_clock: Callable[[], float]) -> None:
        self.name = name
        self.flushing = 0  # flushes waiting: a writer writes what it holds at once
        self.wakeup = asyncio.Event()  # set by the journal's offers and a flush
        self.progress = asyncio.Event()  # set by the writer after each step
        self._journal = journal
        self._wall_clock = wall_clock

    def start(self, write_task: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """The writer's task, named `write:<sink>`, and its lag exported (`collector_sink_lag_seconds`)."""
        task = asyncio.create_task(write_task, name=f"write:{self.name}")
        metrics.sink_lag.labels(sink=self.name).set_function(self.lag_seconds)
        return task

    def stopped(self) -> None:
        metrics.sink_lag.labels(sink=self.name).set(0)

    @property
    def backlog(self) -> int:
        return self._journal.backlog(self.name)

    def lag_seconds(self) -> float:
        since = self._journal.oldest_unwritten_at(self.name)
        return 0.0 if since is None else max(0.0, self._wall_clock() - since)

    async def flush(self, given_up: Callable[[], bool]) -> None:
        """Return once every record journaled so far is written, or `given_up()` (the sink is
        down, the archive failing)."""
        target = self._journal.end_seq
        self.flushing += 1
        self.wakeup.set()
        try:
            while self._journal.cursor(self.name) < target and not given_up():
                self.progress.clear()
                await self.progress.wait()
        finally:
            self.flushing -= 1

    async def flush_at_stop(self, flush: Callable[[], Any], timeout: float, error_code: ErrorCode,
                            detail: str) -> None:
        """`await flush()` within `timeout`; past it one line says what stays in the journal."""
        try:
            async with asyncio.timeout(timeout):
                await flush()
        except TimeoutError:
            log.warning("sink_flush_timeout", sink=self.name, error_code=error_code, stop_timeout=timeout,
                        unwritten_records=self.backlog, detail=detail)

    async def wait_for_wakeup(self, timeout: float | None) -> None:
        self.wakeup.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.wakeup.wait()

    def status(self, state: str, lag: float, lag_threshold: float, *, queue_depth: int, last_flush: float | None,
               last_error: str | None, recovered_at: float | None, endpoint: str | None) -> dict[str, Any]:
        """The row /health and the status page show."""
        return {
            "state": state, "queue_depth": queue_depth, "spooled_records": self.backlog,
            "last_flush": last_flush, "last_error": last_error, "recovered_at": recovered_at,
            "lag_s": round(lag, 1), "lag_threshold_s": lag_threshold,
            "dropped_records": self._journal.dropped(self.name),
            "journal_bytes": self._journal.bytes_needed(self.name), "endpoint": endpoint,
        }
