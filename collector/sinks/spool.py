"""A sink's on-disk buffer while it is down: append-only segments of checksummed frames.

Layout: `<spool_dir>/<sink_name>/<seq>.seg`, segments rotated at `segment_bytes`. Each append
writes one or more frames and fsyncs once. A frame is

    magic (4) | payload length (u32) | record count (u32) | crc32 of length+count+payload (u32)
    payload: compact JSON, one array per record: [kind, exchange, symbol, ts, received_at, ...values]

so a torn or corrupt frame is found by its length and checksum. On open every segment is
scanned: a torn tail is cut off (SPOOL_002 names the file); a corrupt frame in the middle is
skipped up to the next valid frame and the segment rewritten without it (SPOOL_002, records
lost counted as dropped with reason "spool_corrupt").

Replay reads from the oldest segment on, one batch at a time; `confirm()` advances past a
batch once the sink has it and deletes a segment only when every record in it was confirmed.
A crash before that replays the segment again: at-least-once, the sinks are idempotent.

Full spool (`max_bytes`): the NEWEST incoming frames are dropped, keeping the oldest data
contiguous (a gap at the end of an outage is easier to reason about and to backfill than holes
in its middle). Each drop is counted in `records_dropped{reason="spool_full"}`; SPOOL_001 is
logged once when drops begin and once when they end, with the count.

All file work runs in worker threads (`asyncio.to_thread`); the state it changes is guarded by
a thread lock, so a caller cancelled mid-operation still leaves the spool consistent.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog

from collector import metrics
from collector.errors import ErrorCode
from collector.records import RECORD_TYPES, Record, columns
from collector.sinks.base import OpenClose

log = structlog.get_logger(__name__)

MAGIC: Final = b"\xf5SPL"  # 0xF5 never occurs in UTF-8, so never inside a JSON payload
_HEADER: Final = struct.Struct("<4sIII")
_COUNTS: Final = struct.Struct("<II")
_MAX_PAYLOAD: Final = 256 * 1024 * 1024
_SUFFIX: Final = ".seg"
_ROW_OF = {kind: operator.attrgetter("kind", *columns(kind)) for kind in RECORD_TYPES}
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def encode_frame(records: Sequence[Record]) -> bytes:
    payload = _ENCODER.encode([_ROW_OF[r.kind](r) for r in records]).encode()
    crc = zlib.crc32(payload, zlib.crc32(_COUNTS.pack(len(payload), len(records))))
    return _HEADER.pack(MAGIC, len(payload), len(records), crc) + payload


def decode_payload(payload: bytes) -> list[Record]:
    types = RECORD_TYPES
    return [types[row[0]](*row[1:]) for row in json.loads(payload)]


@dataclass(slots=True)
class _Frame:
    offset: int
    length: int  # header + payload
    count: int


def _frame_at(data: bytes | memoryview, offset: int) -> _Frame | None:
    """The valid frame starting at `offset`, or None (torn, corrupt, or not a frame)."""
    if len(data) - offset < _HEADER.size:
        return None
    magic, length, count, crc = _HEADER.unpack_from(data, offset)
    end = offset + _HEADER.size + length
    if magic != MAGIC or length > _MAX_PAYLOAD or end > len(data):
        return None
    payload = data[offset + _HEADER.size:end]
    if zlib.crc32(payload, zlib.crc32(_COUNTS.pack(length, count))) != crc:
        return None
    return _Frame(offset, end - offset, count)


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    size: int = 0
    records: int = 0


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Records read from the spool, and where the reader stands once they are confirmed."""

    records: list[Record]
    seq: int
    end_offset: int

    def __len__(self) -> int:
        return len(self.records)


class Spool(OpenClose):
    def __init__(
        self, directory: Path, sink_name: str, max_bytes: int, *, segment_bytes: int | None = None,
    ) -> None:
        self.sink_name = sink_name
        self.path = Path(directory) / sink_name
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or min(16 * 1024 * 1024, max(64 * 1024, max_bytes // 16))
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._active: _Segment | None = None
        self._file: Any = None
        self._read_offset = 0  # in the oldest segment: bytes confirmed
        self._read_records = 0  # in the oldest segment: records confirmed
        self._dropping = 0  # records dropped in the current spool-full episode
        self._next_seq = 1

    @property
    def records(self) -> int:
        """Records waiting in the spool (appended, not yet confirmed)."""
        return sum(s.records for s in self._segments) - self._read_records

    @property
    def bytes(self) -> int:
        return sum(s.size for s in self._segments)

    async def open(self) -> None:
        """Create the directory, scan every segment, repair torn or corrupt ones."""
        await asyncio.to_thread(self._open)
        self._update_gauge()

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    async def append(self, records: Sequence[Record], *, frame_records: int = 1000) -> int:
        """Write `records` in frames of at most `frame_records`, fsync once; return how many
        were kept (the rest were dropped because the spool is full)."""
        if not records:
            return 0
        kept = await asyncio.to_thread(self._append, records, frame_records)
        kept_records = min(len(records), kept * frame_records)
        self._count_drops(len(records) - kept_records)
        if kept_records:
            metrics.records_spooled.labels(sink=self.sink_name).inc(kept_records)
        self._update_gauge()
        return kept_records

    async def read(self, max_records: int) -> SpoolBatch:
        """The oldest unconfirmed records, about `max_records` of them (whole frames, one
        segment at most); empty when the spool is empty."""
        return await asyncio.to_thread(self._read, max_records)

    async def confirm(self, batch: SpoolBatch) -> None:
        """The sink has `batch`: move past it and delete segments wholly confirmed."""
        await asyncio.to_thread(self._confirm, batch)
        self._update_gauge()

    # --- worker-thread side -------------------------------------------------------------

    def _open(self) -> None:
        with self._lock:
            self.path.mkdir(parents=True, exist_ok=True)
            for leftover in self.path.glob("*.tmp"):
                leftover.unlink()
            self._segments = []
            for path in sorted(self.path.glob("*" + _SUFFIX)):
                segment = self._scan(path)
                if segment.records:
                    self._segments.append(segment)
                else:
                    path.unlink()
            self._active, self._read_offset, self._read_records = None, 0, 0
            self._next_seq = self._segments[-1].seq + 1 if self._segments else 1

    def _scan(self, path: Path) -> _Segment:
        data = path.read_bytes()
        frames: list[_Frame] = []
        offset, skipped = 0, False
        while offset < len(data):
            frame = _frame_at(data, offset)
            if frame is not None:
                frames.append(frame)
                offset += frame.length
                continue
            resume = _next_frame(data, offset + 1)
            if resume is None:
                log.warning("spool_tail_repaired", sink=self.sink_name, file=str(path),
                            error_code=ErrorCode.SPOOL_002, offset=offset,
                            bytes_cut=len(data) - offset)
                break
            log.warning("spool_segment_corrupt", sink=self.sink_name, file=str(path),
                        error_code=ErrorCode.SPOOL_002, offset=offset,
                        bytes_skipped=resume - offset)
            offset, skipped = resume, True
        size = sum(f.length for f in frames)
        if skipped:
            _rewrite(path, data, frames)
        elif size < len(data):
            with path.open("r+b") as file:
                file.truncate(size)
                os.fsync(file.fileno())
        return _Segment(int(path.stem), path, size, sum(f.count for f in frames))

    def _close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._active = None

    def _append(self, records: Sequence[Record], frame_records: int) -> int:
        frames = [encode_frame(records[i:i + frame_records])
                  for i in range(0, len(records), frame_records)]
        with self._lock:
            room = self.max_bytes - sum(s.size for s in self._segments)
            kept = 0
            for frame in frames:
                if len(frame) > room:
                    break
                room -= len(frame)
                kept += 1
            if kept:
                self._write(frames[:kept])
            return kept

    def _write(self, frames: list[bytes]) -> None:
        segment = self._active
        if segment is None or segment.size >= self.segment_bytes:
            segment = self._new_segment()
        data = b"".join(frames)
        try:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            # A half-written frame may be on disk: reads stop at `segment.size`, and the next
            # append starts a new segment on a clean frame boundary.
            self._file.close()
            self._file, self._active = None, None
            raise
        segment.size += len(data)
        segment.records += sum(_HEADER.unpack_from(f)[2] for f in frames)

    def _new_segment(self) -> _Segment:
        if self._file is not None:
            self._file.close()
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        segment = _Segment(seq, self.path / f"{seq:016d}{_SUFFIX}")
        self._file = segment.path.open("ab")
        _fsync_dir(self.path)  # the new file's name must survive a crash too
        self._segments.append(segment)
        self._active = segment
        return segment

    def _read(self, max_records: int) -> SpoolBatch:
        with self._lock:
            while self._segments:
                head = self._segments[0]
                if self._read_offset < head.size:
                    return self._read_frames(head, max_records)
                if head is self._active:
                    break
                self._drop_head()
            return SpoolBatch([], 0, 0)

    def _read_frames(self, head: _Segment, max_records: int) -> SpoolBatch:
        records: list[Record] = []
        offset = self._read_offset
        with head.path.open("rb") as file:
            file.seek(offset)
            while offset < head.size and len(records) < max_records:
                header = file.read(_HEADER.size)
                magic, length, count, crc = _HEADER.unpack(header.ljust(_HEADER.size, b"\0"))
                payload = file.read(length) if magic == MAGIC and length <= _MAX_PAYLOAD else b""
                checked = zlib.crc32(payload, zlib.crc32(_COUNTS.pack(length, count)))
                if magic != MAGIC or len(payload) != length or checked != crc:
                    # Damaged on disk since it was scanned: skip to the next valid frame.
                    offset = self._skip_corrupt(head, file, offset)
                    continue
                records.extend(decode_payload(payload))
                offset += _HEADER.size + length
        return SpoolBatch(records, head.seq, offset)

    def _skip_corrupt(self, head: _Segment, file: Any, offset: int) -> int:
        file.seek(offset)
        data = file.read(head.size - offset)
        found = _next_frame(data, 1)
        resume = offset + (found if found is not None else len(data))
        log.warning("spool_segment_corrupt", sink=self.sink_name, file=str(head.path),
                    error_code=ErrorCode.SPOOL_002, offset=offset, bytes_skipped=resume - offset)
        file.seek(resume)
        return resume

    def _confirm(self, batch: SpoolBatch) -> None:
        with self._lock:
            if not self._segments or self._segments[0].seq != batch.seq:
                return
            head = self._segments[0]
            self._read_offset = batch.end_offset
            self._read_records = min(head.records, self._read_records + len(batch.records))
            if self._read_offset >= head.size:
                self._drop_head()
            if self._dropping and sum(s.size for s in self._segments) < self.max_bytes // 2:
                self._end_drop_episode()

    def _drop_head(self) -> None:
        head = self._segments.pop(0)
        if head is self._active:
            self._file.close()
            self._file, self._active = None, None
        head.path.unlink(missing_ok=True)
        self._read_offset, self._read_records = 0, 0

    # --- accounting -----------------------------------------------------------------------

    def _count_drops(self, dropped: int) -> None:
        if not dropped:
            return
        metrics.records_dropped.labels(sink=self.sink_name, reason="spool_full").inc(dropped)
        if not self._dropping:
            log.error("spool_full", sink=self.sink_name, error_code=ErrorCode.SPOOL_001,
                      max_bytes=self.max_bytes, policy="drop_newest", dropped_records=dropped)
        self._dropping += dropped

    def _end_drop_episode(self) -> None:
        log.warning("spool_full_ended", sink=self.sink_name, error_code=ErrorCode.SPOOL_001,
                    dropped_records=self._dropping)
        self._dropping = 0

    def _update_gauge(self) -> None:
        metrics.spool_bytes.labels(sink=self.sink_name).set(self.bytes)


def _next_frame(data: bytes, start: int) -> int | None:
    """Offset of the next valid frame at or after `start`, or None."""
    offset = data.find(MAGIC, start)
    while offset != -1:
        if _frame_at(data, offset) is not None:
            return offset
        offset = data.find(MAGIC, offset + 1)
    return None


def _rewrite(path: Path, data: bytes, frames: list[_Frame]) -> None:
    """Replace `path` by its valid frames only (atomic: temp file, fsync, rename)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as file:
        for frame in frames:
            file.write(data[frame.offset:frame.offset + frame.length])
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
