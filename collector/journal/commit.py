"""The journal's group commit: what is appended while one write and fsync run shares the next.

Each append waits for the fsync of the write that holds its records. Records are framed by at
most `frame_records`, each frame with its first seq. A write the disk refuses is retried every
second, logged once per episode: collection waits meanwhile, nothing is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from collector.errors import ErrorCode
from collector.journal.appender import Appender, Written
from collector.journal.segments import Index
from collector.records import Record

log = structlog.get_logger(__name__)

_WRITE_RETRY_S = 1.0

Pending = list[tuple[list[Record], asyncio.Future[int]]]
Chunks = list[tuple[list[Record], int]]
Framed = list[tuple[list[Record], int, bytes]]  # a chunk's records, first seq, and its frame on disk


class GroupCommit:
    def __init__(self, appender: Appender, index: Index, *, frame_records: int, clock: Callable[[], float],
                 run: Callable[..., Awaitable[Any]], journaled: Callable[[Chunks], Awaitable[None]],
                 durable: Callable[[Framed], None]) -> None:
        """`journaled(chunks)` runs once they are on disk, before the appends return;
        `durable(chunks)` right after."""
        self.next_seq = 0  # the next seq to assign
        self._appender = appender
        self._index = index
        self._frame_records = max(1, frame_records)
        self._clock = clock
        self._run = run
        self._journaled = journaled
        self._durable = durable
        self._pending: Pending = []
        self._committing: Pending = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._write_failing = False

    async def append(self, records: Sequence[Record]) -> int:
        """Returns once `records` are on disk (fsync); the seq after the last of them."""
        if not records:
            return self._index.end_seq
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((list(records), future))
        self._idle.clear()
        self._wakeup.set()
        # A cancelled caller (a poll stopped at shutdown) still gets its records journaled.
        return await asyncio.shield(future)

    async def settle(self) -> None:
        """Return once every append made so far is on disk."""
        self._wakeup.set()
        await self._idle.wait()

    def waiting(self) -> int:
        """Records appended and not on disk yet."""
        return sum(len(records) for records, _ in self._committing + self._pending)

    def cancel(self) -> None:
        """The appends still waiting never return (the loop is stopped)."""
        for _, future in self._committing + self._pending:
            future.cancel()

    async def loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                self._committing, self._pending = self._pending, []
                await self._commit(self._committing)
                self._committing = []
            self._idle.set()

    async def _commit(self, pending: Pending) -> None:
        chunks, written = await self._write(pending)
        for segment, frame, _ in written:
            if not self._index.segments or self._index.segments[-1] is not segment:
                self._index.segments.append(segment)
            segment.add(frame)
        self._index.end_seq = written[-1][1].end_seq
        await self._journaled(chunks)
        for _, future in pending:
            if not future.done():
                future.set_result(self._index.end_seq)
        self._durable([(records, first_seq, data) for (records, first_seq), (_, _, data) in zip(chunks, written,
                                                                                               strict=True)])

    async def _write(self, pending: Pending) -> tuple[Chunks, Written]:
        while True:
            chunks = self._chunks(pending)
            try:
                written = await self._run(self._appender.write, chunks, int(self._clock() * 1000))
                break
            except OSError as err:
                self._on_write_error(err, sum(len(r) for r, _ in pending))
                await asyncio.sleep(_WRITE_RETRY_S)
        if self._write_failing:
            self._write_failing = False
            log.info("journal_write_recovered", path=str(self._appender.directory))
        return chunks, written

    def _chunks(self, pending: Pending) -> Chunks:
        """Frames of at most `frame_records`, each with its first seq (fresh on every attempt, so a
        failed attempt's half-written frames can never share a seq with the retry's)."""
        chunks, size = [], self._frame_records
        for records, _ in pending:
            for start in range(0, len(records), size):
                part = records[start:start + size]
                chunks.append((part, self.next_seq))
                self.next_seq += len(part)
        return chunks

    def _on_write_error(self, err: OSError, records: int) -> None:
        if not self._write_failing:
            self._write_failing = True
            log.error("journal_write_failed", path=str(self._appender.directory), error_code=ErrorCode.SPOOL_001,
                      error=err.strerror or str(err), records_waiting=records,
                      detail="collection waits until the disk takes writes again")
