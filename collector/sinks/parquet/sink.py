"""The archive sink: reads the journal and writes it to Parquet files, exactly once.

A part is a range of journal positions (ranges.py). While the writer keeps up it takes the
journal's live offers (as the other sinks' `BatchWriter` does) and sends them at once, as the
journal's own frame bytes, to the archive writer process (writer_process.py), which alone
imports pyarrow, decodes the frames and holds the part's Arrow row groups; a writer that is
behind, or restarted, reads the journal's frames from disk instead.
The part closes when it is due — `roll_interval` seconds after its oldest record was journaled,
`max_part_records` records, or a flush (stop, `--once`) — and the journal's cursor moves once the
process reported it renamed into place. Compaction runs in the process too, between parts, so
it never races one and never stalls the daemon's event loop.

Failures (a path that is a file, a read-only or full disk, a corrupt part at compaction, the
writer process ended) are one `ARCHIVE_001` line each, logged when they start and once more
when they end; the writer waits and tries again, and the records stay in the journal meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from collector.config import ParquetConfig
from collector.errors import ErrorCode, one_line
from collector.journal import Journal
from collector.records import Record
from collector.sinks.parquet.offers import LiveOffers
from collector.sinks.parquet.ranges import ADD_RECORDS, ArchiveRanges
from collector.sinks.parquet.upkeep import ArchiveFault
from collector.sinks.progress import JournalProgress

log = structlog.get_logger(__name__)

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
        self.sink = ArchiveSink(str(config.path))
        self.name = self.sink.name
        self.root = config.path
        self.lag_threshold = config.roll_interval + 60.0
        self.last_error: str | None = None
        # The writers' common face (app.py): an archive never refuses its config, a bad path
        # or a full disk is waited out (ARCHIVE_001) with the records kept in the journal.
        self.misconfigured: Exception | None = None
        self._config = config
        self._journal = journal
        self._stop_timeout = stop_timeout
        self._clock = clock
        self._retry_delays = tuple(retry_delays)
        self._ranges = ArchiveRanges(config, journal, self.name)
        self._offers = LiveOffers(queue_max)  # live records from the open part's end on
        self._follow = JournalProgress(self.name, journal, clock)
        self._failures = 0
        self._last_compaction = float("-inf")
        self._state = "starting"
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> ArchiveWriter:
        self._ranges.next_seq = self._journal.attach(self.name, self)
        self._state = "running"
        self._task = self._follow.start(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Write what is journaled within `stop_timeout`; the rest stays in the journal."""
        if self._state != "running":
            self._state = "stopped"
            return
        self._state = "stopping"
        await self._follow.flush_at_stop(self.flush, self._stop_timeout, self.sink.error_code,
                                         "they stay in the journal and are archived after the restart")
        self._journal.lost(self.name, self._held_and_gone())
        self._journal.detach(self.name)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._ranges.process.close()
        self._state = "stopped"
        self._follow.stopped()

    def held_until(self) -> int:
        """The journal's `Reader`: the open part's records (in the writer process until it
        reports them renamed into place) and the live offers queued after them are archived from
        memory when their segment goes (a full journal); a pending range is read back from disk,
        so it holds none."""
        ranges = self._ranges
        held = ranges.filled_to if ranges.open else ranges.next_seq
        queued = self._offers.end
        return held if queued is None else max(held, queued)

    def _held_and_gone(self) -> int:
        """Records held in memory that the journal no longer has: lost once they are forgotten."""
        return max(0, min(self.held_until(), self._journal.oldest_seq) - self._ranges.next_seq)

    def offer(self, records: list[Record], first_seq: int, frame: bytes) -> None:
        """The journal's live offer: its frame kept while caught up (LiveOffers), never blocks."""
        if self._offers.offer(frame, first_seq, len(records), self._ranges.filled_to):
            self._follow.wakeup.set()

    async def flush(self) -> None:
        """Return once every record journaled so far is archived, or the archive is failing."""
        await self._follow.flush(lambda: bool(self._failures))

    # --- status ---------------------------------------------------------------------------
    @property
    def taken_seq(self) -> int:
        """The journal position up to which records are archived or in the open part."""
        return self._ranges.filled_to

    @property
    def parts_written(self) -> int:
        return self._ranges.parts_written

    @property
    def writer_process_pid(self) -> int | None:
        """The archive writer process's pid (writer_process.py); None before it started."""
        return self._ranges.process.pid

    @property
    def following(self) -> bool:
        """Caught up: new records come from the journal's live offers, not from disk."""
        return self._offers.following

    @property
    def backlog(self) -> int:
        return self._follow.backlog

    def lag_seconds(self) -> float:
        return self._follow.lag_seconds()

    def status(self) -> dict[str, Any]:
        lag = self.lag_seconds()
        return self._follow.status(self._public_state(lag), lag, self.lag_threshold,
                                   queue_depth=len(self._offers), last_flush=self._ranges.last_flush,
                                   last_error=self.last_error, recovered_at=None, endpoint=self.sink.endpoint)

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
            self._follow.progress.set()

    async def _step(self) -> None:
        ranges = self._ranges
        if not ranges.prepared:
            await ranges.prepare()
        if ranges.pending is not None:
            await ranges.write_pending()
        elif self._due():
            await ranges.close()
            await self._compact_due_days()
        elif self._offers:
            await ranges.add(self._offers.take(min(ranges.room, ADD_RECORDS)))
        elif not self._offers.following and ranges.filled_to < self._journal.end_seq:
            await ranges.fill_from_disk()
        else:
            self._offers.following = True  # caught up: follow the commits from here
            if self._clock() - self._last_compaction >= COMPACT_EVERY_S:
                await self._compact_due_days()
            await self._follow.wait_for_wakeup(_TICK)

    def _due(self) -> bool:
        filled = self._ranges.filled_to - self._ranges.next_seq
        if filled <= 0:
            return False
        if filled >= self._config.max_part_records:
            return True
        if self._follow.flushing and self._ranges.filled_to >= self._journal.end_seq:
            return True
        since = self._journal.oldest_unwritten_at(self.name)
        return since is not None and self._clock() - since >= self._config.roll_interval

    async def _compact_due_days(self) -> None:
        self._last_compaction = self._clock()
        if self._config.compact_after:
            await self._ranges.compact(self._clock() - self._config.compact_after)

    # --- failures -------------------------------------------------------------------------
    async def _on_failure(self, err: Exception) -> None:
        self._journal.lost(self.name, self._held_and_gone())
        await self._ranges.forget_open_part(err)
        self._offers.drop()
        reason = str(err) if isinstance(err, ArchiveFault) else f"{self.root}: {one_line(err, 300)}"
        if self._failures == 0 or reason != self.last_error:
            log.error("archive_write_failed", sink=self.name, error_code=ErrorCode.ARCHIVE_001,
                      path=str(self.root), error=reason, unwritten_records=self.backlog,
                      detail="retrying; the records stay in the journal")
        self.last_error = reason
        delay = self._retry_delays[min(self._failures, len(self._retry_delays) - 1)]
        self._failures += 1
        self._follow.progress.set()  # a flush waiting on a failing archive returns
        await asyncio.sleep(delay)

    def _on_success(self) -> None:
        if self._failures:
            log.info("archive_write_recovered", sink=self.name, path=str(self.root), failures=self._failures)
            self._failures = 0
