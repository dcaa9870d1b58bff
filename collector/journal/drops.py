"""Records the journal dropped for a sink: counted per sink, logged once per episode."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from collector import metrics
from collector.errors import ErrorCode

log = structlog.get_logger(__name__)


class Drops:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._total: dict[str, int] = {}
        self._episode: dict[str, int] = {}  # journal_full drops since the episode began

    def of(self, sink: str) -> int:
        return self._total.get(sink, 0)

    def count(self, sink: str, records: int, reason: str) -> None:
        if records <= 0:
            return
        metrics.records_dropped.labels(sink=sink, reason=reason).inc(records)
        self._total[sink] = self._total.get(sink, 0) + records
        if reason != "journal_full":
            return
        if not self._episode.get(sink):
            log.error("journal_full", sink=sink, error_code=ErrorCode.SPOOL_001, max_bytes=self.max_bytes,
                      policy="drop_oldest_for_lagging_sinks", dropped_records=records)
        self._episode[sink] = self._episode.get(sink, 0) + records

    def segment_gone(self, first_seq: int, end_seq: int, cursors: dict[str, int],
                     held_until: Callable[[str], int]) -> None:
        """A full journal deleted records `first_seq`..`end_seq`: count for each sink those it
        neither confirmed nor holds in memory (its writer writes those from there). A sink that
        holds none of them has its cursor moved past them; one that does commits past them itself."""
        for sink, cursor in cursors.items():
            held = held_until(sink)
            self.count(sink, end_seq - max(held, first_seq), "journal_full")
            if held == cursor < end_seq:
                cursors[sink] = end_seq

    def end_episodes(self, journal_bytes: int) -> None:
        """Once the journal is back under half its bound, each episode ends with its count."""
        if self._episode and journal_bytes < self.max_bytes // 2:
            for sink, records in self._episode.items():
                log.warning("journal_full_ended", sink=sink, error_code=ErrorCode.SPOOL_001,
                            dropped_records=records)
            self._episode.clear()
