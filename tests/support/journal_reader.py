"""Reading a daemon's journal from outside, as an operator (or a test) would after a crash."""

from __future__ import annotations

import shutil
from pathlib import Path

from collector.journal import Journal
from collector.records import identity

Identity = tuple[str, str, str, int]


class _Nobody:
    def offer(self, records, first_seq, frame) -> None:
        pass

    def held_until(self) -> int:
        return 0  # holds nothing


async def unwritten_identities(spool_dir: Path, sink: str, scratch: Path, *, everything: bool = False) -> set[Identity]:
    """Identities journaled that `sink` has not confirmed (all still journaled with `everything`),
    read from a copy so the daemon later finds its journal untouched."""
    copy = scratch / f"journal-copy-{len(list(scratch.glob('journal-copy-*')))}"
    if (spool_dir / "journal").exists():
        shutil.copytree(spool_dir / "journal", copy / "journal")
    found: set[Identity] = set()
    async with Journal(copy, max_bytes=2**40) as journal:
        seq = journal.attach(sink, _Nobody())
        if everything:
            seq = journal.oldest_seq
        while (read := await journal.read(sink, seq, 10_000)).end_seq > read.first_seq:
            found |= {identity(r) for r in read.records}
            seq = read.end_seq
    shutil.rmtree(copy, ignore_errors=True)
    return found
