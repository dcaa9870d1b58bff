"""One segment file of the journal: its frame index, its repair on open, appends and reads.

The index of a segment is four compact arrays (first seq, record count, byte offset, append time
of each frame), so a journal that is hours behind costs a few bytes per frame in memory, not
its records. Appends and deletes run on the journal's one I/O thread; reads run on any worker
thread, each with its own file handle.
"""

from __future__ import annotations

import mmap
import os
from array import array
from asyncio import Future
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import structlog

from collector.errors import ErrorCode
from collector.journal import frames
from collector.records import Record

log = structlog.get_logger(__name__)

SUFFIX: Final = ".jnl"


@dataclass(eq=False, slots=True)
class Segment:
    path: Path
    size: int = 0  # bytes of valid frames; anything after them is a failed write's leftover
    starts: array = field(default_factory=lambda: array("q"))
    counts: array = field(default_factory=lambda: array("q"))
    offsets: array = field(default_factory=lambda: array("q"))
    times: array = field(default_factory=lambda: array("q"))

    @property
    def first_seq(self) -> int:
        return self.starts[0] if self.starts else int(self.path.stem)

    @property
    def end_seq(self) -> int:
        return self.starts[-1] + self.counts[-1] if self.starts else int(self.path.stem)

    @property
    def records(self) -> int:
        return sum(self.counts)

    def add(self, frame: frames.Frame) -> None:
        self.starts.append(frame.first_seq)
        self.counts.append(frame.count)
        self.offsets.append(frame.offset)
        self.times.append(frame.appended_ms)
        self.size = frame.offset + frame.length

    def locate(self, seq: int) -> int:
        """Index of the frame holding `seq`, or of the first frame after it."""
        index = bisect_right(self.starts, seq) - 1
        if index < 0:
            return 0
        return index if seq < self.starts[index] + self.counts[index] else index + 1

    def frame(self, index: int) -> frames.Frame:
        end = self.offsets[index + 1] if index + 1 < len(self.offsets) else self.size
        return frames.Frame(self.offsets[index], end - self.offsets[index], self.starts[index],
                            self.counts[index], self.times[index])


@dataclass(eq=False, slots=True)
class Index:
    """The journal's segments, oldest first, and the seq after the last durable record (changed
    on the loop only; shared by the group commit that adds to it and the retention that deletes)."""

    segments: list[Segment] = field(default_factory=list)
    end_seq: int = 0

    @property
    def oldest_seq(self) -> int:
        return self.segments[0].first_seq if self.segments else self.end_seq

    @property
    def bytes(self) -> int:
        return sum(s.size for s in self.segments)


def plan_read(segments: list[Segment], seq: int, max_records: int,
              durable_end: int) -> tuple[Segment, range, int, int] | None:
    """Which frames a read from `seq` takes: (segment, frame indexes, records to skip in the first,
    the seq after the last); whole frames up to `max_records` (at least one), one segment at most,
    nothing past `durable_end`. None when there is nothing to read."""
    for segment in segments:
        if seq >= segment.end_seq:
            continue
        first = last = segment.locate(seq)
        total = 0
        while last < len(segment.starts) and (total == 0 or total + segment.counts[last] <= max_records):
            if segment.starts[last] + segment.counts[last] > durable_end:
                break
            total += segment.counts[last]
            last += 1
        if last == first:
            return None
        skip = max(0, seq - segment.starts[first])
        return segment, range(first, last), skip, segment.starts[last - 1] + segment.counts[last - 1]
    return None


def appended_at(segments: list[Segment], seq: int) -> int | None:
    """UTC ms the record `seq` (or the first one after it) was journaled; None past the end."""
    for segment in segments:
        if seq < segment.end_seq:
            index = segment.locate(seq)
            return segment.times[min(index, len(segment.times) - 1)]
    return None


def segment_path(directory: Path, first_seq: int) -> Path:
    return directory / f"{first_seq:020d}{SUFFIX}"


def load_all(directory: Path) -> list[Segment]:
    """Every segment of a journal directory, repaired, oldest first; created if missing, and
    proven writable (a read-only disk is found at start, not at the first append)."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / ".writable"
    probe.write_bytes(b"")
    probe.unlink()
    for leftover in directory.glob("*.tmp"):
        leftover.unlink()
    segments: list[Segment] = []
    for path in sorted(directory.glob("*" + SUFFIX)):
        segment = load(path)
        if segment.starts and (not segments or segment.first_seq >= segments[-1].end_seq):
            segments.append(segment)
        else:
            path.unlink()  # empty, or (a retried write's leftover) holding records seen already
    return segments


def load(path: Path) -> Segment:
    """Scan a segment, cut a torn tail and rewrite it without damaged frames (SPOOL_002 each).
    The file is mapped, not read: a journal of a gigabyte costs no gigabyte of memory at start."""
    size = path.stat().st_size
    if not size:
        return Segment(path)
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        found = frames.scan(data)
        for offset, length in found.skipped:
            log.warning("journal_frame_corrupt", file=str(path), error_code=ErrorCode.SPOOL_002,
                        offset=offset, bytes_skipped=length)
        if found.skipped:
            _rewrite(path, data, found.frames)
    if not found.skipped and found.torn_at is not None:
        log.warning("journal_tail_repaired", file=str(path), error_code=ErrorCode.SPOOL_002,
                    offset=found.torn_at, bytes_cut=size - found.torn_at)
        with path.open("r+b") as file:
            file.truncate(found.valid_bytes)
            os.fsync(file.fileno())
    segment = Segment(path)
    offset = 0
    for frame in found.frames:  # after a rewrite the valid frames lie back to back
        segment.add(frames.Frame(offset, frame.length, frame.first_seq, frame.count, frame.appended_ms))
        offset += frame.length
    return segment


def read(segment: Segment, indexes: range, skip: int) -> tuple[list[Record], list[frames.Frame]]:
    """Records of the frames at `indexes`, the first `skip` of them left out; and the frames found
    damaged since the scan (their records are missing from the result)."""
    records: list[Record] = []
    damaged: list[frames.Frame] = []
    with segment.path.open("rb") as file:
        for index in indexes:
            frame = segment.frame(index)
            file.seek(frame.offset)
            try:
                batch = frames.decode(frames.payload_of(file.read(frame.length), frame))
            except (frames.CorruptFrame, ValueError, TypeError):
                damaged.append(frame)
                continue
            records.extend(batch[skip:] if index == indexes.start else batch)
    return records, damaged


def read_frames(segment: Segment, indexes: range) -> tuple[list[memoryview], list[frames.Frame]]:
    """The frames at `indexes` as written, each checked (one read of the bytes they span); and
    the frames found damaged since the scan (left out of the result)."""
    if not indexes:
        return [], []
    start = segment.offsets[indexes.start]
    last = segment.frame(indexes[-1])
    with segment.path.open("rb") as file:
        file.seek(start)
        data = memoryview(file.read(last.offset + last.length - start))
    found: list[memoryview] = []
    damaged: list[frames.Frame] = []
    for index in indexes:
        frame = segment.frame(index)
        at = frame.offset - start
        checked = frames.frame_at(data[:at + frame.length], at)
        if checked is None or checked.first_seq != frame.first_seq or checked.count != frame.count:
            damaged.append(frame)
        else:
            found.append(data[at:at + frame.length])
    return found, damaged


def _rewrite(path: Path, data: bytes | mmap.mmap, valid: list[frames.Frame]) -> None:
    """Replace `path` by its valid frames only (atomic: temp file, fsync, rename)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as file:
        for frame in valid:
            file.write(data[frame.offset:frame.offset + frame.length])
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def log_delete_failure(future: Future[None]) -> None:
    if not future.cancelled() and (err := future.exception()) is not None:
        log.warning("journal_segment_not_deleted", error_code=ErrorCode.SPOOL_001, error=str(err))


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
