"""What the journal and a sink's writer say to each other: the writer is a `Reader`, a read
from disk gives a `Read`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from collector.records import Record


class Reader(Protocol):
    def offer(self, records: list[Record], first_seq: int) -> None:
        """Records `first_seq`.. just became durable; take them or ignore them (read them later)."""

    def held_until(self) -> int:
        """The seq before which every record the sink has not confirmed is in the reader's memory
        and will be written from there (the sink's cursor when it holds nothing)."""


@dataclass(frozen=True, slots=True)
class Read:
    records: list[Record]
    first_seq: int  # where the read started (past records dropped meanwhile)
    end_seq: int  # the next record after these; == first_seq when there is nothing to read
