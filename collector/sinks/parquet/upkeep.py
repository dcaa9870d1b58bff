"""The archive's upkeep around the writes: the start's checks and cleanup, and the compaction
sweep over finished days. Blocking functions: the sink runs them on a worker thread."""

from __future__ import annotations

from pathlib import Path

import structlog

from collector.sinks.parquet import compaction, layout, state
from collector.errors import ErrorCode

log = structlog.get_logger(__name__)


class ArchiveFault(Exception):
    """The archive cannot be written now; `path` is where."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def prepare_root(root: Path) -> state.ArchiveState:
    """Check the path, remove what a crash left behind, and read where the archive stands."""
    if root.exists() and not root.is_dir():
        raise ArchiveFault(root, "exists and is not a directory; point parquet.path at a directory")
    layout.make_dirs(root)
    removed = layout.remove_leftovers(root)
    if removed:
        log.info("archive_leftovers_removed", sink="parquet", path=str(root), files=removed)
    return state.read(root)


def due_days(root: Path, ended_before: float) -> list[Path]:
    """Day partitions with parts whose UTC day ended before `ended_before` (epoch seconds)."""
    return [day_dir for day, day_dir in layout.days(root)
            if layout.day_end(day) <= ended_before and compaction.needs_compaction(day_dir)]


class CompactionSweep:
    """Compacts every due day; a corrupt file is reported once (not once per sweep) and its day
    is left as it is until the file is moved away."""

    def __init__(self) -> None:
        self._corrupt: set[Path] = set()

    def run(self, root: Path, ended_before: float, compression: str) -> None:
        for day_dir in due_days(root, ended_before):
            try:
                rows = compaction.compact_day(root, day_dir, compression)
            except compaction.CorruptFile as err:
                if err.path not in self._corrupt:
                    self._corrupt.add(err.path)
                    log.error("archive_part_corrupt", sink="parquet", error_code=ErrorCode.ARCHIVE_001,
                              path=str(err.path), error=str(err),
                              detail="the day is not compacted until the file is moved away; nothing was changed")
                continue
            self._corrupt = {path for path in self._corrupt if path.parent != day_dir}
            log.info("archive_day_compacted", sink="parquet", path=str(day_dir), records=rows)
