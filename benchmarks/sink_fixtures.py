"""What the sink benchmarks share: the records they write, the footprint they measure, the load.

benchmarks/sinks.py (the four sinks) and benchmarks/sinks_parquet.py (the archive) both import
this module; neither imports the other at module level.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator

import psutil

from collector.config import DatabaseConfig
from collector.records import Record, Ticker

T0 = 1_704_067_200_000
CHUNK = 10_000
MAX_QUEUED = 50_000
DATABASE = DatabaseConfig(timeout=60.0)
_CHILDREN_EVERY = 50  # samples (of 20 ms) between two listings of the child processes


def tickers(count: int, *, offset: int = 0) -> Iterator[list[Record]]:
    """`count` distinct tickers in chunks: 3 exchanges x 500 symbols, one tick a second."""
    for start in range(offset, offset + count, CHUNK):
        chunk = []
        for i in range(start, min(start + CHUNK, offset + count)):
            price = 100.0 + (i % 9973) * 0.01
            chunk.append(Ticker(("binance", "bybit", "okx")[i % 3], f"C{(i // 3) % 500}/USDT:USDT",
                                T0 + (i // 1500) * 1000, T0 + (i // 1500) * 1000 + 7, price,
                                price - 0.01, price + 0.01, price, price, price * 1.05, price * 0.95,
                                1e6 + i, 1e8 + i, 5e5))
        yield chunk


class Footprint:
    """This process's peak RSS (sampled every 20 ms) and the bytes it wrote to disk while active:
    `.peak_mb`, `.growth_mb` (peak minus the RSS at the start: what the run itself added) and
    `.disk_bytes` afterwards. Disk bytes are the process's own (SQLite's file and WAL, a spool),
    not a database server's. `.children_peak_mb`: the peak RSS of its child processes (the
    archive writer process; listed once a second, their RSS sampled alike)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self.peak = self.children_peak = 0
        self._written_before = 0
        self.disk_bytes = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Footprint:
        self.start = self.peak = self._process.memory_info().rss
        self._written_before = self._process.io_counters().write_bytes
        self._task = asyncio.create_task(self._sample(), name="benchmark:rss")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._task.cancel()
        self.peak = max(self.peak, self._process.memory_info().rss)
        self.disk_bytes = self._process.io_counters().write_bytes - self._written_before

    async def _sample(self) -> None:
        children: list[psutil.Process] = []
        relist = True
        for sample in itertools.count(1):
            self.peak = max(self.peak, self._process.memory_info().rss)
            if relist or sample % _CHILDREN_EVERY == 0:
                # Listing children reads every process's /proc entry: on a busy machine that is
                # a tenth of a core at every sample, taken from the run it measures.
                children, relist = self._process.children(recursive=True), False
            try:
                rss = sum(child.memory_info().rss for child in children)
            except psutil.NoSuchProcess:
                rss, relist = 0, True  # one ended: listed again at the next sample
            self.children_peak = max(self.children_peak, rss)
            await asyncio.sleep(0.02)

    @property
    def peak_mb(self) -> float:
        return self.peak / 1_048_576

    @property
    def children_peak_mb(self) -> float:
        return self.children_peak / 1_048_576

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1_048_576


def load_average() -> str:
    """The machine's load: figures from a busy machine are not comparable with a quiet one's."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"
