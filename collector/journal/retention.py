"""The sinks' side of the journal: where each sink is, what it reads, and which segments go.

Each attached sink has a cursor (everything before it confirmed) and a live `Reader`; the cursors
are saved a few times a second (ledger.py), with those of sinks not attached (yet) kept as they
were. A segment goes once every attached sink passed it. Past `max_bytes` the oldest segment
goes although a lagging sink still needs it; the records in it that the sink neither confirmed
nor holds in memory (`Reader.held_until`, or a read from disk under way) are counted (drops.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from collector import metrics
from collector.errors import ErrorCode
from collector.journal import ledger
from collector.journal import segments as seg
from collector.journal.appender import Appender
from collector.journal.drops import Drops
from collector.journal.commit import Framed
from collector.journal.frames import Frame
from collector.journal.reading import FrameRead, Read, Reader
from collector.journal.segments import Index, Segment

log = structlog.get_logger(__name__)

_LEDGER_EVERY_S = 0.2


class Retention:
    def __init__(self, path: Path, index: Index, appender: Appender, *, max_bytes: int,
                 run: Callable[..., Awaitable[Any]], delete: Callable[[Segment], None]) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.saved: dict[str, int] = {}  # cursors read at open, of sinks not attached (yet)
        self._index = index
        self._appender = appender
        self._run = run
        self._delete = delete
        self._drops = Drops(max_bytes)
        self._cursors: dict[str, int] = {}
        self._readers: dict[str, Reader] = {}
        self._reading: dict[str, int] = {}  # sink -> end seq of its read from disk under way
        self._dirty = asyncio.Event()

    def positions(self) -> dict[str, int]:
        """Every cursor to save: the attached sinks' over the saved ones."""
        return {**self.saved, **self._cursors}

    def attach(self, name: str, reader: Reader) -> int:
        """Register a sink; the seq it starts from (its saved cursor, else the oldest record)."""
        index = self._index
        saved = self.saved.pop(name, None)
        start = index.oldest_seq if saved is None else min(max(saved, index.oldest_seq), index.end_seq)
        if saved is not None and saved < index.oldest_seq:
            log.warning("journal_gap", sink=name, error_code=ErrorCode.SPOOL_001, cursor=saved,
                        oldest_seq=index.oldest_seq, detail="records the sink never took are gone")
        self._cursors[name] = start
        self._readers[name] = reader
        self._dirty.set()  # segments no attached sink needs (e.g. a sink disabled since) can go
        return start

    def detach(self, name: str) -> None:
        self._readers.pop(name, None)

    def cursor(self, name: str) -> int:
        return self._cursors[name]

    def commit(self, name: str, seq: int) -> None:
        if seq > self._cursors[name]:
            self._cursors[name] = seq
            self._dirty.set()

    async def read(self, name: str, seq: int, max_records: int) -> Read:
        """Records from `seq` on (or from the oldest kept one), at most one segment's worth."""
        records, seq, end = await self._read(name, seq, max_records, seg.read)
        return Read(records, seq, end)

    async def read_frames(self, name: str, seq: int, max_records: int) -> FrameRead:
        """`read`, as the frames on disk hold the records (no Record made)."""
        # Whole frames: the first may begin before `seq`, its reader skips by seq.
        found, seq, end = await self._read(name, seq, max_records, lambda segment, indexes, _: seg.read_frames(
            segment, indexes))
        return FrameRead(found, seq, end)

    async def _read(self, name: str, seq: int, max_records: int,
                    read: Callable[[Segment, range, int], tuple[list[Any], list[Frame]]]) -> tuple[list[Any], int, int]:
        index = self._index
        seq = max(seq, self._cursors.get(name, seq), index.oldest_seq)
        plan = seg.plan_read(index.segments, seq, max_records, index.end_seq)
        if plan is None:
            return [], seq, seq
        segment, frame_indexes, skip, end = plan
        self._reading[name] = end  # records the reader will hold: not counted if their segment goes
        try:
            found, damaged = await asyncio.to_thread(read, segment, frame_indexes, skip)
        except FileNotFoundError:
            if segment in index.segments:
                raise
            self._drops.count(name, end - seq, "journal_full")  # the full journal deleted it first
            return [], seq, end
        finally:
            del self._reading[name]
        for frame in damaged:
            self._drops.count(name, frame.count, "journal_corrupt")
            log.warning("journal_frame_corrupt", sink=name, file=str(segment.path), error_code=ErrorCode.SPOOL_002,
                        offset=frame.offset, records_lost=frame.count)
        return found, seq, end

    def backlog(self, name: str) -> int:
        """Records journaled that the sink has not confirmed yet."""
        return max(0, self._index.end_seq - self._cursors.get(name, self._index.end_seq))

    def dropped(self, name: str) -> int:
        return self._drops.of(name)

    def lost(self, name: str, records: int) -> None:
        """A sink let go unwritten of records it held that the full journal no longer has."""
        self._drops.count(name, records, "journal_full")

    def oldest_unwritten_at(self, name: str) -> float | None:
        """Epoch seconds the oldest record the sink still needs was journaled; None when caught up."""
        at = seg.appended_at(self._index.segments, self._cursors.get(name, self._index.end_seq))
        return None if at is None else at / 1000

    def bytes_needed(self, name: str) -> int:
        cursor = self._cursors.get(name, self._index.end_seq)
        return sum(s.size for s in self._index.segments if s.end_seq > cursor)

    def committed(self, chunks: Framed) -> None:
        """Records just became durable: each reader is offered them, then the disk bound holds."""
        for part, first_seq, frame in chunks:
            for reader in tuple(self._readers.values()):
                reader.offer(part, first_seq, frame)
        self._enforce_limit()
        self.update_gauge()

    def update_gauge(self) -> None:
        metrics.journal_bytes.set(self._index.bytes)

    async def ledger_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(_LEDGER_EVERY_S)
            self._dirty.clear()
            await self._persist()

    async def _persist(self) -> None:
        cursors = dict(self._cursors)
        try:
            await self._run(ledger.write, self.path, {**self.saved, **cursors})
        except OSError as err:
            log.warning("journal_cursors_not_saved", error_code=ErrorCode.SPOOL_001, error=err.strerror or str(err))
            return
        segments = self._index.segments
        if cursors:
            done = min(cursors.values())
            while len(segments) > 1 and segments[0].end_seq <= done:
                self._delete(segments.pop(0))
        self._drops.end_episodes(self._index.bytes)
        self.update_gauge()

    def _enforce_limit(self) -> None:
        segments = self._index.segments
        while self._index.bytes > self.max_bytes and len(segments) > 1:
            oldest = segments.pop(0)
            self._drops.segment_gone(oldest.first_seq, oldest.end_seq, self._cursors, self._held_until)
            self._delete(oldest)
            self._dirty.set()
        if self._index.bytes > self.max_bytes:
            self._appender.seal = True  # the only segment is too big: the next write starts anew

    def _held_until(self, name: str) -> int:
        cursor = self._cursors[name]
        reader = self._readers.get(name)
        held = max(cursor, reader.held_until()) if reader is not None else cursor
        return max(held, self._reading.get(name, held))
