"""Stop signals: the first stops gracefully, a second forces the exit with 128 + its number and
one line saying what the journal keeps; the forced exit leaves the journal whole."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from structlog.testing import capture_logs

from collector.journal import Journal
from collector.stopping import StopSignals, exit_when_forced
from tests.support.records import mixed_records
from tests.unit.journal.test_journal import Collect, read_all


class JournalOnly:
    """What the daemon's `halt` does, on a journal with two sinks attached."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def halt(self, timeout: float) -> dict[str, int]:
        self.journal.halt(timeout)
        return {name: self.journal.backlog(name) for name in ("postgres", "sqlite")}


async def forced_exit(tmp_path: Path, *signums: int) -> tuple[list[int], list[dict]]:
    journal = Journal(tmp_path, max_bytes=2**30)
    await journal.open()
    journal.attach("postgres", Collect())
    journal.attach("sqlite", Collect())
    records = mixed_records(400)
    journal.commit("sqlite", await journal.append(records[:300]))
    await journal.append(records[300:])  # neither sink has these yet
    signals = StopSignals(asyncio.get_running_loop())
    exits: list[int] = []
    with capture_logs() as logs:
        forcing = asyncio.create_task(exit_when_forced(signals, JournalOnly(journal), exit_now=exits.append))
        for signum in signums:
            signals.on_signal(signum)
        await asyncio.wait({forcing}, timeout=5 if len(signums) > 1 else 0.1)
        forcing.cancel()
    assert signals.stop.is_set()
    return exits, logs


async def test_the_first_stop_signal_only_starts_the_graceful_stop(tmp_path: Path) -> None:
    exits, logs = await forced_exit(tmp_path, signal.SIGTERM)
    assert exits == []
    assert [line["event"] for line in logs] == ["stop_requested"]


async def test_a_second_sigterm_exits_143_saying_what_each_sink_left_in_the_journal(tmp_path: Path) -> None:
    exits, logs = await forced_exit(tmp_path, signal.SIGTERM, signal.SIGTERM)
    assert exits == [143]
    forced = [line for line in logs if line["event"] == "stop_forced"]
    assert len(forced) == 1
    assert forced[0]["undelivered_records"] == {"postgres": 400, "sqlite": 100}
    assert forced[0]["records_kept"] == 400  # the journal keeps each record once, for every sink
    assert "delivered at the next start" in forced[0]["detail"]


async def test_a_second_sigint_exits_130(tmp_path: Path) -> None:
    exits, _ = await forced_exit(tmp_path, signal.SIGTERM, signal.SIGINT)
    assert exits == [130]


async def test_after_a_forced_exit_the_next_start_reads_every_record_and_the_saved_cursors(tmp_path: Path) -> None:
    await forced_exit(tmp_path, signal.SIGINT, signal.SIGINT)
    async with Journal(tmp_path, max_bytes=2**30) as journal:
        assert journal.attach("sqlite", Collect()) == 300, "the cursor saved at the halt"
        assert journal.attach("postgres", Collect()) == 0
        assert await read_all(journal, "postgres") == mixed_records(400)


async def test_a_halted_journal_writes_nothing_more(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=2**30)
    await journal.open()
    journal.attach("sqlite", Collect())
    await journal.append(mixed_records(100))
    assert journal.halt(timeout=5)
    late = asyncio.create_task(journal.append(mixed_records(50, start=100)))
    await asyncio.wait({late}, timeout=0.2)
    async with Journal(tmp_path, max_bytes=2**30) as reopened:
        reopened.attach("sqlite", Collect())
        assert await read_all(reopened, "sqlite") == mixed_records(100)
    late.cancel()
