"""The journal's live offers a caught-up writer keeps until it converts them: in order, bounded.

While `following`, each commit's records are queued if they continue the queue (or the writer's
position); anything else — a gap, or more than `limit` waiting — stops following, and the writer
reads the journal from disk until it has caught up again. Never blocks: it runs inside the
journal's commit.
"""

from __future__ import annotations

from collections import deque

from collector.records import Record


class LiveOffers:
    def __init__(self, limit: int) -> None:
        self.following = False
        self._limit = limit
        self._queue: deque[list[Record]] = deque()
        self._count = 0
        self._end = 0  # the seq after the queue's last record

    def __bool__(self) -> bool:
        return bool(self._queue)

    def __len__(self) -> int:
        """Records queued."""
        return self._count

    @property
    def end(self) -> int | None:
        """The seq after the last queued record; None when nothing is queued."""
        return self._end if self._queue else None

    def offer(self, records: list[Record], first_seq: int, position: int) -> bool:
        """Queue `records` if they follow on; `position` is where the writer has filled to."""
        expected = self._end if self._queue else position
        if not self.following or first_seq != expected or self._count + len(records) > self._limit:
            self.following = False
            return False
        self._queue.append(records)
        self._count += len(records)
        self._end = first_seq + len(records)
        return True

    def take(self, room: int) -> list[Record]:
        """The oldest queued records, at most `room` (the rest stays first in the queue)."""
        records = self._queue.popleft()
        if len(records) > room:  # the rest opens the next part
            records, rest = records[:room], records[room:]
            self._queue.appendleft(rest)
        self._count -= len(records)
        return records

    def drop(self) -> None:
        """Forget what is queued (it is in the journal) and stop following."""
        self._queue.clear()
        self._count = 0
        self.following = False
