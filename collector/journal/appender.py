"""The journal's writing end, on its I/O thread: frames appended to the active segment, one
fsync per call, a new segment past `segment_bytes` (or when asked to seal the current one)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from collector.journal import frames
from collector.journal.segments import Segment, fsync_dir, segment_path
from collector.records import Record

Written = list[tuple[Segment, frames.Frame, bytes]]  # where each frame lies, and its bytes


class Appender:
    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.seal = False  # start a new segment at the next write
        self.fsyncs = 0
        self.bytes_written = 0
        self._active: Segment | None = None
        self._file: Any = None

    def write(self, chunks: list[tuple[list[Record], int]], appended_ms: int) -> Written:
        """Frame each `(records, first seq)` chunk, append, fsync; where each frame now lies, and
        the frame itself. The caller adds them to the segments' index."""
        written: Written = []
        data: list[bytes] = []
        segment = self._writable(chunks[0][1])
        offset = segment.size
        for part, first_seq in chunks:
            if offset >= self.segment_bytes and data:
                self._flush(data)
                data, segment, offset = [], self._new_segment(first_seq), 0
            frame = frames.encode(part, first_seq, appended_ms)
            data.append(frame)
            written.append((segment, frames.Frame(offset, len(frame), first_seq, len(part), appended_ms), frame))
            offset += len(frame)
        self._flush(data)
        return written

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._active = None, None

    def _writable(self, first_seq: int) -> Segment:
        if self._active is None or self.seal or self._active.size >= self.segment_bytes:
            self.seal = False
            return self._new_segment(first_seq)
        return self._active

    def _new_segment(self, first_seq: int) -> Segment:
        self.close()
        segment = Segment(segment_path(self.directory, first_seq))
        self._file = segment.path.open("ab")
        fsync_dir(self.directory)  # the new file's name must survive a crash too
        self._active = segment
        return segment

    def _flush(self, data: list[bytes]) -> None:
        blob = b"".join(data)
        try:
            self._file.write(blob)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            # A half-written frame may be on disk: the next write starts a new segment, and the
            # scan at the next start cuts the tail of this one.
            self.close()
            raise
        self.fsyncs += 1
        self.bytes_written += len(blob)
