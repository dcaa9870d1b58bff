"""A process the kill -9 test kills: journals records `0 ..< N` (continuing where its journal
stopped) and archives them in small parts over old days, compacting as it goes.

    python -m tests.support.archive_child ROOT SPOOL N

Record `i` is journal position `i`: a ticker with an identity of its own, so any duplicate row
in the archive is an exactly-once failure. Prints `writing` once the archive writer runs."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import structlog

from collector.config import ParquetConfig
from collector.journal import Journal
from collector.records import Ticker
from collector.sinks.parquet.sink import ArchiveWriter

DAY1 = 1_764_547_200_000  # 2025-12-01T00:00:00Z
EXCHANGES = ("binance", "okx")


def record(i: int) -> Ticker:
    ts = DAY1 + i * 20_000  # ~4300 records a day: the parts of one range span two days
    return Ticker(EXCHANGES[i % 2], f"S{i % 7}/USDT:USDT", ts, ts + 3, last=float(i), bid=i - 0.5)


async def main(root: Path, spool: Path, total: int) -> None:
    config = ParquetConfig(enabled=True, path=root, roll_interval=60.0, max_part_records=700,
                           compact_after=1.0)
    async with Journal(spool, max_bytes=2**30) as journal:
        async with ArchiveWriter(config, journal, retry_delays=[0.05]) as writer:
            print("writing", flush=True)
            for start in range(journal.end_seq, total, 500):
                await journal.append([record(i) for i in range(start, min(start + 500, total))])
            await writer.flush()


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
