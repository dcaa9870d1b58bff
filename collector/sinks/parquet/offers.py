"""The journal's live offers a caught-up writer keeps until it sends them: in order, bounded.

What is kept is each commit's journal frame as written (frames.py), not its Record objects: the
writer process decodes the frames itself, so the daemon never encodes a record a second time.
While `following`, each commit is queued if it continues the queue (or the writer's position);
anything else — a gap, or more than `limit` records waiting — stops following, and the writer
reads the journal from disk until it has caught up again. Never blocks: it runs inside the
journal's commit.
"""

from __future__ import annotations

from collections import deque

from collector.journal import FrameRead


class LiveOffers:
    def __init__(self, limit: int) -> None:
        self.following = False
        self._limit = limit
        self._queue: deque[tuple[bytes, int]] = deque()  # a frame, and the seq after its last record
        self._start = 0  # the first queued record not taken yet (its frame may begin before it)
        self._end = 0  # the seq after the queue's last record

    def __bool__(self) -> bool:
        return bool(self._queue)

    def __len__(self) -> int:
        """Records queued."""
        return self._end - self._start if self._queue else 0

    @property
    def end(self) -> int | None:
        """The seq after the last queued record; None when nothing is queued."""
        return self._end if self._queue else None

    def offer(self, frame: bytes, first_seq: int, count: int, position: int) -> bool:
        """Queue the frame of records `first_seq ..< first_seq + count` if they follow on;
        `position` is where the writer has filled to."""
        expected = self._end if self._queue else position
        if not self.following or first_seq != expected or len(self) + count > self._limit:
            self.following = False
            return False
        if count:
            if not self._queue:
                self._start = first_seq
            self._queue.append((frame, first_seq + count))
            self._end = first_seq + count
        return True

    def take(self, room: int) -> FrameRead:
        """The oldest queued records, at most `room` (a frame's rest stays first in the queue)."""
        start = self._start
        limit = start + room
        frames, end = [], start
        while self._queue and end < limit:
            frame, frame_end = self._queue[0]
            frames.append(frame)
            if frame_end > limit:  # the rest opens the next part
                end = limit
                break
            self._queue.popleft()
            end = frame_end
        self._start = end
        return FrameRead(frames, start, end)

    def drop(self) -> None:
        """Forget what is queued (it is in the journal) and stop following."""
        self._queue.clear()
        self.following = False
