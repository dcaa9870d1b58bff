"""The journal: every accepted record, durably on local disk before it counts as collected.

    append(records) -> seq        group commit: what arrives while one fsync runs shares the next
    attach(sink, reader) -> seq   where a sink starts; `reader.offer()` then gets each commit live
    read(sink, seq, n)            a sink that fell behind reads from disk
    commit(sink, seq)             the sink confirmed everything before `seq`

Under `<spool_dir>/journal/`: segments of checksummed frames (frames.py, segments.py),
`cursors.json` (ledger.py) and the newest settlement journaled per symbol (settled.py). A segment goes once every attached sink passed it (a sink disabled in
the config is not waited for); cursors are saved a few times a second, so after a crash a sink
may get a few records again, never miss one. Full (`max_bytes`): the oldest segment goes although
a lagging sink still needs it, so the sinks that keep up lose nothing; the laggard's records in
it that its writer does not hold in memory (`Reader.held_until`) are counted and logged once
per episode (drops.py). File work runs on one I/O thread (reads
on worker threads, with their own handles); the frame index changes only on the loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog

from collector import metrics
from collector.errors import CollectorError, ErrorCode
from collector.journal import ledger, legacy, settled
from collector.journal import segments as seg
from collector.journal.appender import Appender
from collector.journal.drops import Drops
from collector.journal.reading import Read, Reader
from collector.journal.segments import Segment
from collector.lifecycle import OpenClose
from collector.records import Record

log = structlog.get_logger(__name__)

_WRITE_RETRY_S = 1.0
_LEDGER_EVERY_S = 0.2


class Journal(OpenClose):
    def __init__(self, spool_dir: Path, *, max_bytes: int, frame_records: int = 1000,
                 segment_bytes: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self.spool_dir = Path(spool_dir)
        self.path = self.spool_dir / "journal"
        self.max_bytes = max_bytes
        self._frame_records = max(1, frame_records)
        self._appender = Appender(self.path, segment_bytes or min(64 * 2**20, max(2**20, max_bytes // 16)))
        self._drops = Drops(max_bytes)
        self._clock = clock
        self._segments: list[Segment] = []
        self._next_seq = 0  # the next seq to assign
        self.end_seq = 0  # everything before it is durable
        self._saved: dict[str, int] = {}
        self._settled = settled.Settled()
        self._cursors: dict[str, int] = {}
        self._readers: dict[str, Reader] = {}
        self._reading: dict[str, int] = {}  # sink -> end seq of its read from disk under way
        self._pending: list[tuple[list[Record], asyncio.Future[int]]] = []
        self._committing: list[tuple[list[Record], asyncio.Future[int]]] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._dirty = asyncio.Event()
        self._write_failing = False
        self._io: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        self._io = ThreadPoolExecutor(1, thread_name_prefix="journal-io")
        try:
            await self._run(self._open_files)
        except OSError as err:
            self._io.shutdown(wait=False)
            raise CollectorError(
                f"batch_processing.spool_dir {self.spool_dir}: cannot use {self.path} for the journal: "
                f"{err.strerror or err}; point spool_dir at a writable directory", code=ErrorCode.SPOOL_001,
            ) from None
        self._tasks = [asyncio.create_task(self._commit_loop(), name="journal:commit"),
                       asyncio.create_task(self._ledger_loop(), name="journal:ledger")]
        self._update_gauge()
        await legacy.import_into(self, self.spool_dir)
        log.info("journal_opened", path=str(self.path), segments=len(self._segments),
                 records=self.end_seq - self.oldest_seq, next_seq=self.end_seq)

    async def close(self, timeout: float = 10.0) -> None:
        """Commit what is pending (within `timeout`), save the cursors, release the files."""
        try:
            async with asyncio.timeout(timeout):
                await self.settle()
        except TimeoutError:
            lost = sum(len(records) for records, _ in self._committing + self._pending)
            log.error("journal_close_timeout", error_code=ErrorCode.SPOOL_001, records_not_journaled=lost)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, future in self._committing + self._pending:
            future.cancel()
        try:
            async with asyncio.timeout(timeout):
                await self._run(self._close_files, dict(self._cursors))
        except (OSError, TimeoutError) as err:
            log.error("journal_close_failed", error_code=ErrorCode.SPOOL_001, error=str(err) or "timed out")
        if self._io is not None:
            self._io.shutdown(wait=False)

    async def settle(self) -> None:
        """Return once every append made so far is on disk."""
        self._wakeup.set()
        await self._idle.wait()

    def halt(self, timeout: float) -> bool:
        """For a forced exit, from the loop's thread: the write under way finishes (no torn
        frame), none starts after it, and the cursors are saved. False when the disk did not
        answer within `timeout` (a torn tail then fails its checksum at the next start's scan)."""
        cursors = {**self._saved, **self._cursors}
        for task in self._tasks:  # no commit starts after this one
            task.cancel()

        def stop_writing() -> None:
            if self._io is not None:
                self._io.shutdown(wait=True, cancel_futures=True)
            try:
                ledger.write(self.path, cursors)
            except OSError:
                pass  # older cursors: the sinks get some records again, none is lost

        # A thread of its own: the I/O thread's queue is closed, the default executor may be stuck.
        halting = threading.Thread(target=stop_writing, name="journal-halt", daemon=True)
        halting.start()
        halting.join(timeout)
        if halting.is_alive():
            log.warning("journal_halt_timeout", error_code=ErrorCode.SPOOL_001, timeout_s=timeout)
            return False
        return True

    def _open_files(self) -> None:
        self._segments = seg.load_all(self.path)
        self._saved = ledger.read(self.path)
        self._settled = settled.read(self.path)
        last = self._segments[-1].end_seq if self._segments else 0
        self._next_seq = self.end_seq = max([last, *self._saved.values()])

    def _close_files(self, cursors: dict[str, int]) -> None:
        self._appender.close()
        ledger.write(self.path, {**self._saved, **cursors})

    # --- the sinks' side ------------------------------------------------------------------
    @property
    def oldest_seq(self) -> int:
        return self._segments[0].first_seq if self._segments else self.end_seq

    def attach(self, name: str, reader: Reader) -> int:
        """Register a sink; the seq it starts from (its saved cursor, else the oldest record)."""
        saved = self._saved.pop(name, None)
        start = self.oldest_seq if saved is None else min(max(saved, self.oldest_seq), self.end_seq)
        if saved is not None and saved < self.oldest_seq:
            log.warning("journal_gap", sink=name, error_code=ErrorCode.SPOOL_001, cursor=saved,
                        oldest_seq=self.oldest_seq, detail="records the sink never took are gone")
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
        seq = max(seq, self._cursors.get(name, seq), self.oldest_seq)
        plan = seg.plan_read(self._segments, seq, max_records, self.end_seq)
        if plan is None:
            return Read([], seq, seq)
        segment, indexes, skip, end = plan
        self._reading[name] = end  # records the reader will hold: not counted if their segment goes
        try:
            records, damaged = await asyncio.to_thread(seg.read, segment, indexes, skip)
        except FileNotFoundError:
            if segment in self._segments:
                raise
            self._drops.count(name, end - seq, "journal_full")  # the full journal deleted it first
            return Read([], seq, end)
        finally:
            del self._reading[name]
        for frame in damaged:
            self._drops.count(name, frame.count, "journal_corrupt")
            log.warning("journal_frame_corrupt", sink=name, file=str(segment.path), error_code=ErrorCode.SPOOL_002,
                        offset=frame.offset, records_lost=frame.count)
        return Read(records, seq, end)

    def backlog(self, name: str) -> int:
        """Records journaled that the sink has not confirmed yet."""
        return max(0, self.end_seq - self._cursors.get(name, self.end_seq))

    def settled(self, exchange: str) -> dict[str, int]:
        """Symbol -> time of the newest settlement of `exchange` ever journaled here."""
        return self._settled.of(exchange)

    def dropped(self, name: str) -> int:
        return self._drops.of(name)

    def lost(self, name: str, records: int) -> None:
        """A sink let go unwritten of records it held that the full journal no longer has."""
        self._drops.count(name, records, "journal_full")

    @property
    def fsyncs(self) -> int:
        return self._appender.fsyncs

    @property
    def bytes_written(self) -> int:
        return self._appender.bytes_written

    def oldest_unwritten_at(self, name: str) -> float | None:
        """Epoch seconds the oldest record the sink still needs was journaled; None when caught up."""
        at = seg.appended_at(self._segments, self._cursors.get(name, self.end_seq))
        return None if at is None else at / 1000

    def bytes_needed(self, name: str) -> int:
        cursor = self._cursors.get(name, self.end_seq)
        return sum(s.size for s in self._segments if s.end_seq > cursor)

    @property
    def bytes(self) -> int:
        return sum(s.size for s in self._segments)

    def status(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "segments": len(self._segments),
                "records": self.end_seq - self.oldest_seq, "path": str(self.path)}

    # --- the collection side: group commit ------------------------------------------------
    async def append(self, records: Sequence[Record]) -> int:
        """Returns once `records` are on disk (fsync); the seq after the last of them."""
        if not records:
            return self.end_seq
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((list(records), future))
        self._idle.clear()
        self._wakeup.set()
        # A cancelled caller (a poll stopped at shutdown) still gets its records journaled.
        return await asyncio.shield(future)

    async def _commit_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                self._committing, self._pending = self._pending, []
                await self._commit(self._committing)
                self._committing = []
            self._idle.set()

    async def _commit(self, pending: list[tuple[list[Record], asyncio.Future[int]]]) -> None:
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
            log.info("journal_write_recovered", path=str(self.path))
        for segment, frame in written:
            if not self._segments or self._segments[-1] is not segment:
                self._segments.append(segment)
            segment.add(frame)
        self.end_seq = written[-1][1].end_seq
        if self._settled.note(record for records, _ in pending for record in records):
            await self._save_settled()
        for _, future in pending:
            if not future.done():
                future.set_result(self.end_seq)
        for part, first_seq in chunks:
            for reader in tuple(self._readers.values()):
                reader.offer(part, first_seq)
        self._enforce_limit()
        self._update_gauge()

    def _chunks(self, pending: list[tuple[list[Record], Any]]) -> list[tuple[list[Record], int]]:
        """Frames of at most `frame_records`, each with its first seq (fresh on every attempt, so a
        failed attempt's half-written frames can never share a seq with the retry's)."""
        chunks, size = [], self._frame_records
        for records, _ in pending:
            for start in range(0, len(records), size):
                part = records[start:start + size]
                chunks.append((part, self._next_seq))
                self._next_seq += len(part)
        return chunks

    async def _save_settled(self) -> None:
        try:
            await self._run(settled.write, self.path, self._settled.snapshot())
        except OSError as err:  # the next start fetches those settlements again: duplicates, no loss
            log.warning("journal_settled_not_saved", error_code=ErrorCode.SPOOL_001, error=err.strerror or str(err))

    def _on_write_error(self, err: OSError, records: int) -> None:
        if not self._write_failing:
            self._write_failing = True
            log.error("journal_write_failed", path=str(self.path), error_code=ErrorCode.SPOOL_001,
                      error=err.strerror or str(err), records_waiting=records,
                      detail="collection waits until the disk takes writes again")

    # --- retention and the disk bound -----------------------------------------------------
    async def _ledger_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(_LEDGER_EVERY_S)
            self._dirty.clear()
            await self._persist()

    async def _persist(self) -> None:
        cursors = dict(self._cursors)
        try:
            await self._run(ledger.write, self.path, {**self._saved, **cursors})
        except OSError as err:
            log.warning("journal_cursors_not_saved", error_code=ErrorCode.SPOOL_001, error=err.strerror or str(err))
            return
        if cursors:
            done = min(cursors.values())
            while len(self._segments) > 1 and self._segments[0].end_seq <= done:
                self._delete(self._segments.pop(0))
        self._drops.end_episodes(self.bytes)
        self._update_gauge()

    def _enforce_limit(self) -> None:
        while self.bytes > self.max_bytes and len(self._segments) > 1:
            oldest = self._segments.pop(0)
            self._drops.segment_gone(oldest.first_seq, oldest.end_seq, self._cursors, self._held_until)
            self._delete(oldest)
            self._dirty.set()
        if self.bytes > self.max_bytes:
            self._appender.seal = True  # the only segment is too big: the next write starts anew

    def _held_until(self, name: str) -> int:
        cursor = self._cursors[name]
        reader = self._readers.get(name)
        held = max(cursor, reader.held_until()) if reader is not None else cursor
        return max(held, self._reading.get(name, held))

    def _delete(self, segment: Segment) -> None:
        future = asyncio.get_running_loop().run_in_executor(self._io, seg.unlink, segment.path)
        future.add_done_callback(seg.log_delete_failure)

    def _update_gauge(self) -> None:
        metrics.journal_bytes.set(self.bytes)

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, function, *args)

