"""The archive sink: reads the journal and writes it to Parquet files, exactly once.

A part is a range of journal positions. While the writer keeps up it takes the journal's live
offers (as the other sinks' `BatchWriter` does) and converts them at once, on a worker thread,
into the part's temporary files (collector/sinks/parquet/parts.py: Arrow row groups, so what waits in
memory is compact); a writer that is behind, or restarted, reads the journal from disk instead.
The part closes when it is due — `roll_interval` seconds after its oldest record was journaled,
`max_part_records` records, or a flush (stop, `--once`). The archive's own cursor file names the
range before its first file is renamed into place (state.py), and the journal's cursor moves
only after the last one is: after kill -9 the restart writes the same range again from the
journal, onto the same names, or continues after it. Compaction runs in the same task, between
parts, so it never races one.

Failures (a path that is a file, a read-only or full disk, a corrupt part at compaction) are
one `ARCHIVE_001` line each, logged when they start and once more when they end; the writer
waits and tries again, and the records stay in the journal meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from collector import metrics
from collector.sinks.parquet import state
from collector.sinks.parquet.upkeep import ArchiveFault, CompactionLog, prepare_root
from collector.sinks.parquet.writer_process import WriterProcess, WriterProcessEnded
from collector.config import ParquetConfig
from collector.errors import ErrorCode, one_line
from collector.journal import Journal
from collector.records import Record
from collector.sinks.parquet.offers import LiveOffers

log = structlog.get_logger(__name__)

READ_CHUNK = 50_000  # records per journal read while writing a range
# Live records waiting for conversion (the app passes batch_processing.queue_max_size, the other
# writers' read-ahead bound); beyond, they are read back from disk later.
INCOMING_MAX = 50_000
RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)
COMPACT_EVERY_S = 60.0  # while idle, how often due days are looked for
_TICK = 0.5  # longest wait before the roll deadline is looked at again


@dataclass(frozen=True, slots=True)
class ArchiveSink:
    """What /health, /metrics and the logs call this sink."""

    endpoint: str
    name: str = "parquet"
    error_code: ErrorCode = ErrorCode.ARCHIVE_001


class ArchiveWriter:
    def __init__(self, config: ParquetConfig, journal: Journal, *, stop_timeout: float = 30.0,
                 queue_max: int = INCOMING_MAX, clock: Callable[[], float] = time.time,
                 retry_delays: Sequence[float] = RETRY_DELAYS_S) -> None:
        self.root = Path(config.path)
        self.sink = ArchiveSink(str(self.root))
        self.name = self.sink.name
        self._config = config
        self._journal = journal
        self._stop_timeout = stop_timeout
        self._clock = clock
        self._retry_delays = tuple(retry_delays)
        self.lag_threshold = config.roll_interval + 60.0
        self._next_seq = 0
        self._pending: tuple[int, int] | None = None
        self._process = WriterProcess(self.root, config.compression)
        self._range_open = False  # the open part, in the process: records next_seq ..< filled_to
        self._filled_to = 0
        self._offers = LiveOffers(queue_max)  # live records from filled_to on
        self._prepared = False
        self._flushing = 0
        self._failures = 0
        self._last_compaction = float("-inf")
        self._compaction_log = CompactionLog()
        self.last_error: str | None = None
        self.last_flush: float | None = None
        # The writers' common face (app.py): an archive never refuses its config, a bad path
        # or a full disk is waited out (ARCHIVE_001) with the records kept in the journal.
        self.misconfigured: Exception | None = None
        self.parts_written = 0
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Event()
        self._state = "starting"
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> ArchiveWriter:
        self._next_seq = self._journal.attach(self.name, self)
        self._state = "running"
        self._task = asyncio.create_task(self._run(), name=f"write:{self.name}")
        metrics.sink_lag.labels(sink=self.name).set_function(self.lag_seconds)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Write what is journaled within `stop_timeout`; the rest stays in the journal."""
        if self._state != "running":
            self._state = "stopped"
            return
        self._state = "stopping"
        try:
            async with asyncio.timeout(self._stop_timeout):
                await self.flush()
        except TimeoutError:
            log.warning("sink_flush_timeout", sink=self.name, error_code=self.sink.error_code,
                        stop_timeout=self._stop_timeout, unwritten_records=self.backlog,
                        detail="they stay in the journal and are archived after the restart")
        self._journal.lost(self.name, self._held_and_gone())
        self._journal.detach(self.name)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._process.close()
        self._state = "stopped"
        metrics.sink_lag.labels(sink=self.name).set(0)

    def held_until(self) -> int:
        """The journal's `Reader`: the open part's records and the live offers queued after them
        are in memory and archived from there when their segment goes (a full journal); a
        pending range is read back from disk, so it holds none."""
        held = self._filled_to if self._range_open else self._next_seq
        queued = self._offers.end
        return held if queued is None else max(held, queued)

    def _held_and_gone(self) -> int:
        """Records held in memory that the journal no longer has: lost once they are forgotten."""
        return max(0, min(self.held_until(), self._journal.oldest_seq) - self._next_seq)

    def offer(self, records: list[Record], first_seq: int) -> None:
        """The journal's live offer: kept while caught up (LiveOffers), never blocks."""
        if self._offers.offer(records, first_seq, self._filled_to):
            self._wakeup.set()

    async def flush(self) -> None:
        """Return once every record journaled so far is archived, or the archive is failing."""
        target = self._journal.end_seq
        self._flushing += 1
        self._wakeup.set()
        try:
            while self._journal.cursor(self.name) < target and not self._failures:
                self._progress.clear()
                await self._progress.wait()
        finally:
            self._flushing -= 1

    # --- status ---------------------------------------------------------------------------
    @property
    def taken_seq(self) -> int:
        """The journal position up to which records are archived or in the open part."""
        return self._filled_to

    @property
    def writer_process_pid(self) -> int | None:
        """The archive writer process's pid (writer_process.py); None before it started."""
        return self._process.pid

    @property
    def following(self) -> bool:
        """Caught up: new records come from the journal's live offers, not from disk."""
        return self._offers.following

    @property
    def backlog(self) -> int:
        return self._journal.backlog(self.name)

    def lag_seconds(self) -> float:
        since = self._journal.oldest_unwritten_at(self.name)
        return 0.0 if since is None else max(0.0, self._clock() - since)

    def status(self) -> dict[str, Any]:
        lag = self.lag_seconds()
        return {
            "state": self._public_state(lag), "queue_depth": len(self._offers), "spooled_records": self.backlog,
            "last_flush": self.last_flush, "last_error": self.last_error, "recovered_at": None,
            "lag_s": round(lag, 1), "lag_threshold_s": self.lag_threshold,
            "dropped_records": self._journal.dropped(self.name),
            "journal_bytes": self._journal.bytes_needed(self.name), "endpoint": self.sink.endpoint,
        }

    def _public_state(self, lag: float) -> str:
        if self._state != "running":
            return self._state
        if self._failures:
            return "down"
        return "lagging" if lag > self.lag_threshold else "ok"

    # --- the write task -------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except (OSError, ValueError, ArchiveFault) as err:
                await self._on_failure(err)
            except Exception as err:
                # A bug: say so with the traceback, keep the records in the journal, go on.
                log.exception("writer_step_failed", sink=self.name, error_code=ErrorCode.APP_002,
                              error=one_line(err))
                await self._on_failure(err)
            else:
                self._on_success()
            self._progress.set()

    async def _step(self) -> None:
        if not self._prepared:
            await self._prepare()
        if self._pending is not None:
            await self._write_range(*self._pending)
        elif self._due():
            await self._close_range()
            await self._compact_due_days()
        elif self._offers:
            await self._add(self._offers.take(self._room))
        elif not self._offers.following and self._filled_to < self._journal.end_seq:
            await self._fill_from_disk()
        else:
            self._offers.following = True  # caught up: follow the commits from here
            if self._clock() - self._last_compaction >= COMPACT_EVERY_S:
                await self._compact_due_days()
            await self._wait_for_wakeup(_TICK)

    def _due(self) -> bool:
        filled = self._filled_to - self._next_seq
        if filled <= 0:
            return False
        if filled >= self._config.max_part_records:
            return True
        if self._flushing and self._filled_to >= self._journal.end_seq:
            return True
        since = self._journal.oldest_unwritten_at(self.name)
        return since is not None and self._clock() - since >= self._config.roll_interval

    @property
    def _room(self) -> int:
        return self._next_seq + self._config.max_part_records - self._filled_to

    async def _fill_from_disk(self) -> None:
        read = await self._journal.read(self.name, self._filled_to, min(READ_CHUNK, self._room))
        if read.end_seq <= self._filled_to:
            return
        self._filled_to = read.first_seq  # records dropped from the journal are skipped
        metrics.records_spooled.labels(sink=self.name).inc(len(read.records[:self._room]))
        await self._add(read.records[:self._room])
        self._filled_to = min(read.end_seq, self._next_seq + self._config.max_part_records)

    async def _add(self, records: list[Record]) -> None:
        # Counted before they are sent: the next live offer, arriving meanwhile, follows these
        # (a failure forgets the whole open part, this included).
        self._range_open = True
        self._filled_to += len(records)
        await self._process.add(self._next_seq, records)

    async def _close_range(self) -> None:
        first, last = self._next_seq, self._filled_to - 1
        await asyncio.to_thread(state.write, self.root, state.ArchiveState(first, (first, last)))
        self._pending = (first, last)
        self._range_open = False
        rows, files = await self._process.commit(first, last)
        await self._committed(first, last, rows, files)

    async def _prepare(self) -> None:
        """Check the path, remove what a crash left, and find where the archive stands."""
        saved = await asyncio.to_thread(prepare_root, self.root)
        start = self._journal.cursor(self.name)
        if saved.next_seq > self._journal.end_seq:
            log.warning("archive_ahead_of_journal", sink=self.name, error_code=ErrorCode.ARCHIVE_001,
                        path=str(self.root), archive_next_seq=saved.next_seq, journal_end_seq=self._journal.end_seq,
                        detail="the journal was replaced; numbering continues from the journal's")
            saved = state.ArchiveState(start)
        # The journal saves cursors a few times a second: after a crash its cursor may lag the
        # archive's, never lead it. The archive's own state says where to go on.
        self._next_seq = self._filled_to = max(start, saved.next_seq)
        self._pending = saved.pending if saved.pending and saved.pending[0] >= self._next_seq else None
        await self._process.start()
        self._prepared = True

    async def _write_range(self, first: int, last: int) -> None:
        """Write `first ..= last` from the journal on disk: a range pending at start, or retried."""
        await asyncio.to_thread(state.write, self.root, state.ArchiveState(first, (first, last)))
        self._pending = (first, last)
        seq = first
        while seq <= last:
            read = await self._journal.read(self.name, seq, min(READ_CHUNK, last + 1 - seq))
            if read.end_seq <= seq:
                break  # past the journal's end: nothing more of this range exists
            # A read returns whole frames, which may reach past the range: never beyond it,
            # or the next range would hold those records again.
            records = read.records[:max(0, last + 1 - read.first_seq)]
            if records:
                await self._process.add(first, records)
            seq = min(read.end_seq, last + 1)
        rows, files = await self._process.commit(first, last)
        await self._committed(first, last, rows, files)

    async def _committed(self, first: int, last: int, rows: int, files: int) -> None:
        await asyncio.to_thread(state.write, self.root, state.ArchiveState(last + 1))
        self._pending = None
        self._next_seq = self._filled_to = last + 1
        self._journal.commit(self.name, last + 1)
        self.parts_written += files
        self.last_flush = time.time()
        metrics.records_written.labels(sink=self.name).inc(rows)
        log.debug("archive_range_written", sink=self.name, first=first, last=last, records=rows, files=files)

    async def _compact_due_days(self) -> None:
        self._last_compaction = self._clock()
        if self._config.compact_after:
            found = await self._process.compact(self._clock() - self._config.compact_after)
            self._compaction_log.report(found["compacted"], found["corrupt"])

    # --- failures -------------------------------------------------------------------------
    async def _on_failure(self, err: Exception) -> None:
        await self._drop_open_part(err)
        reason = str(err) if isinstance(err, ArchiveFault) else f"{self.root}: {one_line(err, 300)}"
        if self._failures == 0 or reason != self.last_error:
            log.error("archive_write_failed", sink=self.name, error_code=ErrorCode.ARCHIVE_001,
                      path=str(self.root), error=reason, unwritten_records=self.backlog,
                      detail="retrying; the records stay in the journal")
        self.last_error = reason
        delay = self._retry_delays[min(self._failures, len(self._retry_delays) - 1)]
        self._failures += 1
        self._progress.set()  # a flush waiting on a failing archive returns
        await asyncio.sleep(delay)

    async def _drop_open_part(self, err: Exception) -> None:
        """After a failure: forget the open part (its records are in the journal) and read
        them back from disk on the next try. A writer process that ended is started anew after
        the start-up's cleanup (its temporary files)."""
        self._journal.lost(self.name, self._held_and_gone())
        self._range_open = False
        try:
            if not isinstance(err, WriterProcessEnded):
                await self._process.abort()
        except WriterProcessEnded:
            err = WriterProcessEnded(self.root, "")
        except (ArchiveFault, RuntimeError):
            pass  # the failure that matters is reported already; the process ends the range itself
        if isinstance(err, WriterProcessEnded):
            self._prepared = False
        self._filled_to = self._next_seq
        self._offers.drop()

    def _on_success(self) -> None:
        if self._failures:
            log.info("archive_write_recovered", sink=self.name, path=str(self.root), failures=self._failures)
            self._failures = 0

    async def _wait_for_wakeup(self, timeout: float) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wakeup.wait()

