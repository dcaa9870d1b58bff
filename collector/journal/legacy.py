"""The per-sink spool of the previous version, read once so its records reach the journal.

Layout: `<spool_dir>/<sink>/<seq>.seg`, frames of `magic b"\\xf5SPL" | payload length (u32) |
record count (u32) | crc32 (u32) | JSON payload` (one array per record: `[kind, *columns]`).
Each record in it had not reached that sink yet. The journal appends them all (identities seen
in two sinks' spools once) and every sink receives them: the ones that had them ignore them,
as every sink is idempotent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any, Final

import structlog

from collector.errors import ErrorCode
from collector.records import RECORD_TYPES, Record, identity

log = structlog.get_logger(__name__)

SINK_DIRS: Final = ("rabbitmq", "clickhouse", "postgres", "sqlite")
_MAGIC: Final = b"\xf5SPL"
_HEADER: Final = struct.Struct("<4sIII")
_COUNTS: Final = struct.Struct("<II")


async def import_into(journal: Any, spool_dir: Path) -> None:
    """Append the old spools' records to `journal` (durably), then remove the old spools."""
    folders = await asyncio.to_thread(find, spool_dir)
    if not folders:
        return
    records = await asyncio.to_thread(read, folders)
    if records:
        await journal.append(records)
    await asyncio.to_thread(remove, folders)
    log.info("legacy_spool_imported", folders=[str(f) for f in folders], records=len(records))


def find(spool_dir: Path) -> list[Path]:
    """The previous version's spool folders under `spool_dir` that hold segments."""
    return [spool_dir / name for name in SINK_DIRS if any((spool_dir / name).glob("*.seg"))]


def read(folders: list[Path]) -> list[Record]:
    """Every readable record of the old spools, oldest segment first, each identity once."""
    seen: set[tuple] = set()
    records: list[Record] = []
    for folder in folders:
        for path in sorted(folder.glob("*.seg")):
            for record in _records_of(path):
                key = identity(record)
                if key not in seen:
                    seen.add(key)
                    records.append(record)
    return records


def remove(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _records_of(path: Path) -> list[Record]:
    data = path.read_bytes()
    records: list[Record] = []
    offset = 0
    while len(data) - offset >= _HEADER.size:
        magic, length, count, crc = _HEADER.unpack_from(data, offset)
        payload = data[offset + _HEADER.size:offset + _HEADER.size + length]
        if magic != _MAGIC or len(payload) != length or \
                zlib.crc32(payload, zlib.crc32(_COUNTS.pack(length, count))) != crc:
            log.warning("legacy_spool_damaged", file=str(path), error_code=ErrorCode.SPOOL_002,
                        offset=offset, bytes_skipped=len(data) - offset)
            break
        records.extend(RECORD_TYPES[row[0]](*row[1:]) for row in json.loads(payload))
        offset += _HEADER.size + length
    return records
