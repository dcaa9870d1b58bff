"""The journal's on-disk format: checksummed frames of records, and the scan that finds them.

A segment file is a sequence of frames:

    magic (4) | payload length (u32) | record count (u32) | first seq (u64) | appended at, UTC ms (u64)
    | crc32 of the 24 bytes after the magic and the payload (u32) | payload

The payload is JSON (orjson): one array per record, `[kind, *values in records.columns(kind)]`,
so a record type that gains fields at its end still reads frames written before. Every record
has a sequence number (`first seq` + its index), unique and increasing over the journal's life:
it is the position the sinks' cursors hold. A torn or corrupt frame is found by its magic,
length and checksum.
"""

from __future__ import annotations

import mmap
import operator
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from collector.records import RECORD_TYPES, Record, columns

MAGIC: Final = b"\xf5JNL"  # 0xF5 never occurs in UTF-8, so never inside a JSON payload
HEADER: Final = struct.Struct("<4sIIQQI")
_CHECKED: Final = struct.Struct("<IIQQ")  # the header fields the crc covers
MAX_PAYLOAD: Final = 256 * 1024 * 1024
_ROW_OF = {kind: operator.attrgetter("kind", *columns(kind)) for kind in RECORD_TYPES}


@dataclass(frozen=True, slots=True)
class Frame:
    """Where one valid frame lies in its segment file, and what it holds."""

    offset: int
    length: int  # header + payload
    first_seq: int
    count: int
    appended_ms: int

    @property
    def end_seq(self) -> int:
        return self.first_seq + self.count


def rows_of(records: Sequence[Record]) -> list[tuple[Any, ...]]:
    """The records as a payload holds them: `[kind, *values in records.columns(kind)]` each."""
    row_of = _ROW_OF
    return [row_of[r.kind](r) for r in records]


def encode(records: Sequence[Record], first_seq: int, appended_ms: int) -> bytes:
    return framed(orjson.dumps(rows_of(records)), len(records), first_seq, appended_ms)


def framed(payload: bytes, count: int, first_seq: int, appended_ms: int) -> bytes:
    """The frame of a payload of `count` records."""
    checked = _CHECKED.pack(len(payload), count, first_seq, appended_ms)
    crc = zlib.crc32(payload, zlib.crc32(checked))
    return HEADER.pack(MAGIC, len(payload), count, first_seq, appended_ms, crc) + payload


def decode(payload: bytes) -> list[Record]:
    types = RECORD_TYPES
    return [types[row[0]](*row[1:]) for row in orjson.loads(payload)]


def rows_between(data: bytes | memoryview, start: int, end: int) -> list[list[Any]]:
    """The rows (as `rows_of` gives them) of records `start ..< end` in `data`, frames laid back to
    back as the journal wrote them (checked when they were read); the frames' other records are
    left out. No Record objects are made: a reader that wants columns builds them from rows."""
    rows: list[list[Any]] = []
    for first_seq, count, payload in payloads(data):
        if first_seq >= end or first_seq + count <= start:
            continue
        decoded = orjson.loads(payload)
        if first_seq < start or first_seq + count > end:
            decoded = decoded[max(0, start - first_seq):end - first_seq]
        rows.extend(decoded)
    return rows


def payloads(data: bytes | memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """(first seq, record count, payload) of each frame in `data`, frames laid back to back."""
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        _, length, count, first_seq, _, _ = HEADER.unpack_from(view, offset)
        start = offset + HEADER.size
        offset = start + length
        yield first_seq, count, view[start:offset]


def frame_at(data: bytes | memoryview | mmap.mmap, offset: int) -> Frame | None:
    """The valid frame starting at `offset`, or None (torn, corrupt, or not a frame)."""
    if len(data) - offset < HEADER.size:
        return None
    magic, length, count, first_seq, appended_ms, crc = HEADER.unpack_from(data, offset)
    end = offset + HEADER.size + length
    if magic != MAGIC or length > MAX_PAYLOAD or end > len(data):
        return None
    checked = _CHECKED.pack(length, count, first_seq, appended_ms)
    if zlib.crc32(data[offset + HEADER.size:end], zlib.crc32(checked)) != crc:
        return None
    return Frame(offset, end - offset, first_seq, count, appended_ms)


def payload_of(data: bytes, frame: Frame) -> bytes:
    """The payload of `frame`, checked again: the file may have been damaged since the scan."""
    found = frame_at(data, 0)
    if found is None or found.first_seq != frame.first_seq or found.count != frame.count:
        raise CorruptFrame(frame)
    return data[HEADER.size:frame.length]


class CorruptFrame(ValueError):
    def __init__(self, frame: Frame) -> None:
        super().__init__(f"frame of records {frame.first_seq}..{frame.end_seq - 1} is damaged")
        self.frame = frame


@dataclass(frozen=True, slots=True)
class Scan:
    """What a segment's bytes hold: its valid frames, and the damage found between them."""

    frames: list[Frame]
    skipped: list[tuple[int, int]]  # (offset, bytes) of damaged stretches between valid frames
    torn_at: int | None  # offset where an unreadable tail starts

    @property
    def valid_bytes(self) -> int:
        return self.frames[-1].offset + self.frames[-1].length if self.frames else 0


def scan(data: bytes | mmap.mmap) -> Scan:
    """Every valid frame of a segment, in order, each one's checksum verified."""
    frames: list[Frame] = []
    skipped: list[tuple[int, int]] = []
    offset = 0
    while offset < len(data):
        frame = frame_at(data, offset)
        if frame is not None and (not frames or frame.first_seq >= frames[-1].end_seq):
            frames.append(frame)
            offset += frame.length
            continue
        resume = _next_frame(data, offset + 1)
        if resume is None:
            return Scan(frames, skipped, offset)
        skipped.append((offset, resume - offset))
        offset = resume
    return Scan(frames, skipped, None)


def _next_frame(data: bytes | mmap.mmap, start: int) -> int | None:
    offset = data.find(MAGIC, start)
    while offset != -1:
        if frame_at(data, offset) is not None:
            return offset
        offset = data.find(MAGIC, offset + 1)
    return None
