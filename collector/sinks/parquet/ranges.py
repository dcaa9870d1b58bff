"""Where the archive stands in the journal, and the writing of its ranges through the writer process.

A part is a range of journal positions: `next_seq` is the first record not archived, the open
part (in the writer process) holds `next_seq ..< filled_to`. The archive's own cursor file
names a range before its first file is renamed into place (state.py), and the journal's cursor
moves only after the process reported the last one renamed and fsync'd: after kill -9 the
restart writes the same range again from the journal, onto the same names, or continues after
it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import structlog

from collector import metrics
from collector.config import ParquetConfig
from collector.errors import ErrorCode
from collector.journal import FrameRead, Journal
from collector.sinks.parquet import state
from collector.sinks.parquet.upkeep import ArchiveFault, CompactionLog, prepare_root
from collector.sinks.parquet.writer_process import WriterProcess, WriterProcessEnded

log = structlog.get_logger(__name__)

# Records per request to the writer process at most (a journal read, or the live offers queued).
ADD_RECORDS = 50_000


class ArchiveRanges:
    def __init__(self, config: ParquetConfig, journal: Journal, name: str) -> None:
        self.root = Path(config.path)
        self.name = name
        self.next_seq = 0
        self.filled_to = 0
        self.open = False  # a part is open in the writer process
        self.pending: tuple[int, int] | None = None  # a range to write (again) from the journal on disk
        self.prepared = False
        self.parts_written = 0
        self.last_flush: float | None = None
        self.process = WriterProcess(self.root, config.compression)
        self._config = config
        self._journal = journal
        self._compaction_log = CompactionLog()

    @property
    def room(self) -> int:
        """Records the open part takes before `max_part_records`."""
        return self.next_seq + self._config.max_part_records - self.filled_to

    async def prepare(self) -> None:
        """Check the path, remove what a crash left, find where the archive stands, start the process."""
        saved = await asyncio.to_thread(prepare_root, self.root)
        start = self._journal.cursor(self.name)
        if saved.next_seq > self._journal.end_seq:
            log.warning("archive_ahead_of_journal", sink=self.name, error_code=ErrorCode.ARCHIVE_001,
                        path=str(self.root), archive_next_seq=saved.next_seq, journal_end_seq=self._journal.end_seq,
                        detail="the journal was replaced; numbering continues from the journal's")
            saved = state.ArchiveState(start)
        # The journal saves cursors a few times a second: after a crash its cursor may lag the
        # archive's, never lead it. The archive's own state says where to go on.
        self.next_seq = self.filled_to = max(start, saved.next_seq)
        self.pending = saved.pending if saved.pending and saved.pending[0] >= self.next_seq else None
        await self.process.start()
        self.prepared = True

    async def add(self, read: FrameRead) -> None:
        """Send records `read.first_seq ..< read.end_seq` to the open part (opened by the first)."""
        # Counted before they are sent: the next live offer, arriving meanwhile, follows these
        # (a failure forgets the whole open part, this included).
        self.open = True
        self.filled_to = read.end_seq
        await self.process.add(self.next_seq, read)

    async def fill_from_disk(self) -> None:
        read = await self._journal.read_frames(self.name, self.filled_to, min(ADD_RECORDS, self.room))
        if read.end_seq <= self.filled_to:
            return
        # Records dropped from the journal are skipped (the read starts past them); a frame may
        # reach past the part's end: never beyond it, or the next part would hold them again.
        read = read.until(self.next_seq + self._config.max_part_records)
        metrics.records_spooled.labels(sink=self.name).inc(read.records)
        await self.add(read)

    async def close(self) -> None:
        """Close the open part: `next_seq ..= filled_to - 1` renamed into place."""
        first, last = self.next_seq, self.filled_to - 1
        await asyncio.to_thread(state.write, self.root, state.ArchiveState(first, (first, last)))
        self.pending = (first, last)
        # Still open until the process reports it renamed into place: its records are held there
        # (`held_until`), and lost with it if it fails (a full journal may have deleted them).
        rows, files = await self.process.commit(first, last)
        await self._committed(first, last, rows, files)

    async def write_pending(self) -> None:
        """Write the pending range from the journal on disk: left at start, or retried."""
        assert self.pending is not None
        first, last = self.pending
        await asyncio.to_thread(state.write, self.root, state.ArchiveState(first, (first, last)))
        seq = first
        while seq <= last:
            read = await self._journal.read_frames(self.name, seq, min(ADD_RECORDS, last + 1 - seq))
            if read.end_seq <= seq:
                break  # past the journal's end: nothing more of this range exists
            # A read returns whole frames, which may reach past the range: never beyond it,
            # or the next range would hold those records again.
            read = read.until(last + 1)
            if read.frames:
                await self.process.add(first, read)
            seq = read.end_seq
        rows, files = await self.process.commit(first, last)
        await self._committed(first, last, rows, files)

    async def _committed(self, first: int, last: int, rows: int, files: int) -> None:
        await asyncio.to_thread(state.write, self.root, state.ArchiveState(last + 1))
        self.pending = None
        self.open = False
        self.next_seq = self.filled_to = last + 1
        self._journal.commit(self.name, last + 1)
        self.parts_written += files
        self.last_flush = time.time()
        metrics.records_written.labels(sink=self.name).inc(rows)
        log.debug("archive_range_written", sink=self.name, first=first, last=last, records=rows, files=files)

    async def compact(self, ended_before: float) -> None:
        """Compact (in the writer process) every day that ended before `ended_before`."""
        found = await self.process.compact(ended_before)
        self._compaction_log.report(found["compacted"], found["corrupt"])

    async def forget_open_part(self, err: Exception) -> None:
        """After a failure: the open part goes (its records are read back from the journal on
        the next try). A writer process that ended is started anew after the start-up's
        cleanup (its temporary files)."""
        self.open = False
        self.filled_to = self.next_seq
        try:
            if not isinstance(err, WriterProcessEnded):
                await self.process.abort()
        except WriterProcessEnded:
            err = WriterProcessEnded(self.root, "")
        except (ArchiveFault, RuntimeError):
            pass  # the failure that matters is reported already; the process ends the range itself
        if isinstance(err, WriterProcessEnded):
            self.prepared = False
