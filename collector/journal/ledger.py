"""The sinks' cursors: one small JSON file beside the segments, `{"sink": next seq, ...}`.

Written whole (temp file, fsync, rename) by the journal's I/O thread, a few times a second at
most. A cursor that is older than the truth only makes a sink receive some records again after
a crash, which every sink takes idempotently; it is never ahead of what the sink confirmed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import structlog

from collector.errors import ErrorCode

log = structlog.get_logger(__name__)

FILE_NAME = "cursors.json"


def read(directory: Path) -> dict[str, int]:
    path = directory / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        # Every sink then starts from the oldest record still journaled: duplicates, no loss.
        log.warning("journal_cursors_unreadable", file=str(path), error_code=ErrorCode.SPOOL_002,
                    error=str(err)[:200])
        return {}
    if not isinstance(data, dict):
        return {}
    return {name: seq for name, seq in data.items() if type(seq) is int and seq >= 0}


def write(directory: Path, cursors: Mapping[str, int]) -> None:
    write_json(directory / FILE_NAME, dict(cursors))


def write_json(path: Path, data: object) -> None:
    """Replace `path` by `data` as JSON, whole or not at all (temp file, fsync, rename)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as file:
        json.dump(data, file, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
