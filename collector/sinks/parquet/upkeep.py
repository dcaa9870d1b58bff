"""The archive's upkeep around the writes, in the daemon: the start's checks and cleanup, and the
log lines of the compaction sweeps the writer process runs. Blocking functions: the sink runs
them on a worker thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from collector.sinks.parquet import layout, state
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


class CompactionLog:
    """The log lines of the writer process's compaction sweeps: a corrupt file is reported once
    (not once per sweep), and again only after its day was compacted and it turns up anew."""

    def __init__(self) -> None:
        self._corrupt: set[Path] = set()

    def report(self, compacted: list[list[Any]], corrupt: list[list[str]]) -> None:
        for path_text, error in corrupt:
            path = Path(path_text)
            if path not in self._corrupt:
                self._corrupt.add(path)
                log.error("archive_part_corrupt", sink="parquet", error_code=ErrorCode.ARCHIVE_001,
                          path=path_text, error=error,
                          detail="the day is not compacted until the file is moved away; nothing was changed")
        for day_text, rows in compacted:
            day_dir = Path(day_text)
            self._corrupt = {path for path in self._corrupt if path.parent != day_dir}
            log.info("archive_day_compacted", sink="parquet", path=day_text, records=rows)
