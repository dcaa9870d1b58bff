"""What the journal and a sink's writer say to each other: the writer is a `Reader`, a read
from disk gives a `Read` (records) or a `FrameRead` (the frames as written, for a writer that
ships them elsewhere as they are)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from collector.journal.frames import HEADER
from collector.records import Record


class Reader(Protocol):
    def offer(self, records: list[Record], first_seq: int, frame: bytes) -> None:
        """Records `first_seq`.. just became durable; take them or ignore them (read them later).
        `frame` holds the same records as the journal wrote them (frames.py)."""

    def held_until(self) -> int:
        """The seq before which every record the sink has not confirmed is in the reader's memory
        and will be written from there (the sink's cursor when it holds nothing)."""


@dataclass(frozen=True, slots=True)
class Read:
    records: list[Record]
    first_seq: int  # where the read started (past records dropped meanwhile)
    end_seq: int  # the next record after these; == first_seq when there is nothing to read


@dataclass(frozen=True, slots=True)
class FrameRead:
    """Records `first_seq ..< end_seq` as the journal's frames hold them (frames.py), laid back to
    back: the first frame may begin before `first_seq` and the last end after `end_seq`, and a
    frame lost meanwhile (damaged, or its segment deleted) is missing; each frame names its own
    records' seqs, so a reader takes exactly those in the range (`frames.rows_between`)."""

    frames: list[bytes | memoryview]
    first_seq: int  # where the read started (past records dropped meanwhile)
    end_seq: int  # the next record after these; == first_seq when there is nothing to read

    @property
    def records(self) -> int:
        """How many records of the range the frames hold."""
        total = 0
        for frame in self.frames:
            _, _, count, first, _, _ = HEADER.unpack_from(frame)
            total += max(0, min(first + count, self.end_seq) - max(first, self.first_seq))
        return total

    def until(self, end_seq: int) -> FrameRead:
        """The same read, ending at `end_seq` at the latest."""
        end = min(end_seq, self.end_seq)
        kept = [frame for frame in self.frames if HEADER.unpack_from(frame)[3] < end]
        return FrameRead(kept, min(self.first_seq, end), end)
