"""The boundary: validate records, journal the good ones; the journal feeds every sink's writer.

`publish()` returns once the accepted records are on disk (the journal's group commit): only
then do they count as collected. A sink that is down, slow or not yet connected never makes it
wait; a disk that cannot take writes does (collection waits, SPOOL_001 says why).

A malformed record (NaN, infinity, a missing required value, an absurd symbol) is rejected
here, counted in `records_dropped{sink="pipeline",reason="malformed"}` and logged RECORD_001,
so it can never poison a batch that a sink would then refuse as a whole. The log is
rate-limited per exchange: one line per `log_every` seconds, carrying how many were rejected
since the previous line, so a broken exchange cannot flood the log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog

from collector import metrics
from collector.errors import ErrorCode, RecordError
from collector.record_checks import validate
from collector.records import Record
from collector.journal import Journal
from collector.sinks.writer import BatchWriter

log = structlog.get_logger(__name__)


class Pipeline:
    def __init__(
        self,
        journal: Journal,
        writers: Sequence[BatchWriter],
        *,
        log_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.writers = tuple(writers)
        self.accepted = 0  # records accepted since start
        self.rejected = 0
        self.last_publish: float | None = None  # epoch seconds of the last accepted record
        self._log_every = log_every
        self._clock = clock
        self._last_logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    async def publish(self, records: Iterable[Record]) -> int:
        """Validate, then journal the accepted records; how many were accepted."""
        accepted: list[Record] = []
        for record in records:
            try:
                validate(record)
            except RecordError as err:
                self._reject(record, err)
                continue
            accepted.append(record)
        if accepted:
            await self.journal.append(accepted)
            self.accepted += len(accepted)
            self.last_publish = time.time()
        return len(accepted)

    async def flush(self) -> None:
        """Every record published so far written by every sink that is up."""
        await self.journal.settle()
        await asyncio.gather(*(writer.flush() for writer in self.writers))

    def status(self) -> dict[str, dict[str, Any]]:
        return {writer.name: writer.status() for writer in self.writers}

    def _reject(self, record: Record, err: RecordError) -> None:
        self.rejected += 1
        metrics.records_dropped.labels(sink="pipeline", reason="malformed").inc()
        exchange = record.exchange if isinstance(record.exchange, str) else repr(record.exchange)
        exchange = exchange[:64]
        now = self._clock()
        last = self._last_logged.get(exchange)
        if last is not None and now - last < self._log_every:
            self._unlogged[exchange] = self._unlogged.get(exchange, 0) + 1
            return
        self._last_logged[exchange] = now
        log.warning("record_rejected", exchange=exchange, kind=record.kind,
                    error_code=ErrorCode.RECORD_001, reason=str(err.args[0]),
                    rejected_since_last_line=self._unlogged.pop(exchange, 0))
