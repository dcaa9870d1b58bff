"""The archive's own cursor: `_archive_state.json` at its root, `{"next_seq": N, "pending": [a, b]}`.

`pending` is the range being written: saved (fsync) before the first part of it is renamed into
place, cleared with `next_seq = b + 1` once the last one is. The journal saves the sinks'
cursors a few times a second, so after a kill -9 it may be behind the archive; this file is not:
a restart continues at `next_seq`, and a range left pending is written again with the same
bounds, landing on the same file names with the same rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from collector.sinks.parquet.layout import STATE, fsync_dir


@dataclass(frozen=True, slots=True)
class ArchiveState:
    next_seq: int = 0
    pending: tuple[int, int] | None = None  # (first, last), both included


def read(root: Path) -> ArchiveState:
    """The saved state; a fresh one when there is none. ValueError when it is unreadable."""
    try:
        data = json.loads((root / STATE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ArchiveState()
    pending = data.get("pending")
    next_seq = data.get("next_seq")
    if type(next_seq) is not int or not (pending is None or _is_range(pending)):
        raise ValueError(f"{root / STATE}: unexpected content")
    return ArchiveState(next_seq, tuple(pending) if pending else None)


def write(root: Path, state: ArchiveState) -> None:
    path = root / STATE
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as file:
        json.dump({"next_seq": state.next_seq, "pending": list(state.pending) if state.pending else None}, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    fsync_dir(root)


def _is_range(value: object) -> bool:
    return (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)
            and 0 <= value[0] <= value[1])
