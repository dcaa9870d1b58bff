"""The journal: every accepted record, durably on local disk before it counts as collected.

    append(records) -> seq        group commit: what arrives while one fsync runs shares the next
    attach(sink, reader) -> seq   where a sink starts; `reader.offer()` then gets each commit live
    read(sink, seq, n)            a sink that fell behind reads from disk (read_frames: as written)
    commit(sink, seq)             the sink confirmed everything before `seq`

Under `<spool_dir>/journal/`: segments of checksummed frames (frames.py, segments.py),
`cursors.json` (ledger.py) and the newest settlement journaled per symbol (settled.py). The group
commit is commit.py; the sinks' cursors, their reads and which segments go are retention.py.
A segment goes once every attached sink passed it (a sink disabled in the config is not waited
for); cursors are saved a few times a second, so after a crash a sink may get a few records
again, never miss one. Full (`max_bytes`): the oldest segment goes although a lagging sink still
needs it, so the sinks that keep up lose nothing; the laggard's records in it that its writer
does not hold in memory (`Reader.held_until`) are counted and logged once per episode
(drops.py). File work runs on one I/O thread (reads on worker threads, with their own handles);
the frame index changes only on the loop. This module keeps the files' lifecycle.
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

from collector.errors import CollectorError, ErrorCode
from collector.journal import ledger, legacy, settled
from collector.journal import segments as seg
from collector.journal.appender import Appender
from collector.journal.commit import Chunks, GroupCommit
from collector.journal.reading import FrameRead, Read, Reader
from collector.journal.retention import Retention
from collector.journal.segments import Segment
from collector.lifecycle import OpenClose
from collector.records import Record

log = structlog.get_logger(__name__)


class Journal(OpenClose):
    def __init__(self, spool_dir: Path, *, max_bytes: int, frame_records: int = 1000,
                 segment_bytes: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self.spool_dir = Path(spool_dir)
        self.path = self.spool_dir / "journal"
        self.max_bytes = max_bytes
        self._appender = Appender(self.path, segment_bytes or min(64 * 2**20, max(2**20, max_bytes // 16)))
        self._index = seg.Index()
        self._settled = settled.Settled()
        self._retention = Retention(self.path, self._index, self._appender, max_bytes=max_bytes,
                                    run=self._run, delete=self._delete)
        self._group = GroupCommit(self._appender, self._index, frame_records=frame_records, clock=clock,
                                  run=self._run, journaled=self._note_settled, durable=self._retention.committed)
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
        self._tasks = [asyncio.create_task(self._group.loop(), name="journal:commit"),
                       asyncio.create_task(self._retention.ledger_loop(), name="journal:ledger")]
        self._retention.update_gauge()
        await legacy.import_into(self, self.spool_dir)
        log.info("journal_opened", path=str(self.path), segments=len(self._index.segments),
                 records=self.end_seq - self.oldest_seq, next_seq=self.end_seq)

    async def close(self, timeout: float = 10.0) -> None:
        """Commit what is pending (within `timeout`), save the cursors, release the files."""
        try:
            async with asyncio.timeout(timeout):
                await self.settle()
        except TimeoutError:
            log.error("journal_close_timeout", error_code=ErrorCode.SPOOL_001,
                      records_not_journaled=self._group.waiting())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._group.cancel()
        try:
            async with asyncio.timeout(timeout):
                await self._run(self._close_files, self._retention.positions())
        except (OSError, TimeoutError) as err:
            log.error("journal_close_failed", error_code=ErrorCode.SPOOL_001, error=str(err) or "timed out")
        if self._io is not None:
            self._io.shutdown(wait=False)

    async def settle(self) -> None:
        """Return once every append made so far is on disk."""
        await self._group.settle()

    def halt(self, timeout: float) -> bool:
        """For a forced exit, from the loop's thread: the write under way finishes (no torn
        frame), none starts after it, and the cursors are saved. False when the disk did not
        answer within `timeout` (a torn tail then fails its checksum at the next start's scan)."""
        cursors = self._retention.positions()
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
        self._index.segments = seg.load_all(self.path)
        self._retention.saved = ledger.read(self.path)
        self._settled = settled.read(self.path)
        last = self._index.segments[-1].end_seq if self._index.segments else 0
        self._group.next_seq = self._index.end_seq = max([last, *self._retention.saved.values()])

    def _close_files(self, cursors: dict[str, int]) -> None:
        self._appender.close()
        ledger.write(self.path, cursors)

    def _delete(self, segment: Segment) -> None:
        future = asyncio.get_running_loop().run_in_executor(self._io, seg.unlink, segment.path)
        future.add_done_callback(seg.log_delete_failure)

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, function, *args)

    # --- the collection side (commit.py) --------------------------------------------------
    async def append(self, records: Sequence[Record]) -> int:
        """Returns once `records` are on disk (fsync); the seq after the last of them."""
        return await self._group.append(records)

    @property
    def end_seq(self) -> int:
        """Everything before it is durable."""
        return self._index.end_seq

    async def _note_settled(self, chunks: Chunks) -> None:
        if self._settled.note(record for part, _ in chunks for record in part):
            await self._save_settled()

    async def _save_settled(self) -> None:
        try:
            await self._run(settled.write, self.path, self._settled.snapshot())
        except OSError as err:  # the next start fetches those settlements again: duplicates, no loss
            log.warning("journal_settled_not_saved", error_code=ErrorCode.SPOOL_001, error=err.strerror or str(err))

    def settled(self, exchange: str) -> dict[str, int]:
        """Symbol -> time of the newest settlement of `exchange` ever journaled here."""
        return self._settled.of(exchange)

    # --- the sinks' side (retention.py) ---------------------------------------------------
    @property
    def oldest_seq(self) -> int:
        return self._index.oldest_seq

    def attach(self, name: str, reader: Reader) -> int:
        """Register a sink; the seq it starts from (its saved cursor, else the oldest record)."""
        return self._retention.attach(name, reader)

    def detach(self, name: str) -> None:
        self._retention.detach(name)

    def cursor(self, name: str) -> int:
        return self._retention.cursor(name)

    def commit(self, name: str, seq: int) -> None:
        self._retention.commit(name, seq)

    async def read(self, name: str, seq: int, max_records: int) -> Read:
        """Records from `seq` on (or from the oldest kept one), at most one segment's worth."""
        return await self._retention.read(name, seq, max_records)

    async def read_frames(self, name: str, seq: int, max_records: int) -> FrameRead:
        """`read`, the records left in their frames as written (frames.py): no Record is made."""
        return await self._retention.read_frames(name, seq, max_records)

    def backlog(self, name: str) -> int:
        """Records journaled that the sink has not confirmed yet."""
        return self._retention.backlog(name)

    def dropped(self, name: str) -> int:
        return self._retention.dropped(name)

    def lost(self, name: str, records: int) -> None:
        """A sink let go unwritten of records it held that the full journal no longer has."""
        self._retention.lost(name, records)

    def oldest_unwritten_at(self, name: str) -> float | None:
        """Epoch seconds the oldest record the sink still needs was journaled; None when caught up."""
        return self._retention.oldest_unwritten_at(name)

    def bytes_needed(self, name: str) -> int:
        return self._retention.bytes_needed(name)

    # --- figures ----------------------------------------------------------------------------
    @property
    def fsyncs(self) -> int:
        return self._appender.fsyncs

    @property
    def bytes_written(self) -> int:
        return self._appender.bytes_written

    @property
    def bytes(self) -> int:
        return self._index.bytes

    def status(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "segments": len(self._index.segments),
                "records": self.end_seq - self.oldest_seq, "path": str(self.path)}
