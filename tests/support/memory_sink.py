"""A test double of the Sink protocol, and helpers to run writers over a real journal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Self

from collector.config import BatchProcessingConfig, CircuitBreakerConfig, RetryConfig
from collector.errors import ErrorCode, SinkError
from collector.journal import Journal
from collector.records import Record, Ticker
from collector.sinks.writer import BatchWriter

T0 = 1_700_000_000_000
FAST_RETRY = RetryConfig(max_attempts=2, base_delay=0.001, max_delay=0.01)
BREAKER = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=5.0)


class MemorySink:
    """Keeps what it was given; can be down (refuses), hang (never answers) or be slow."""

    error_code = ErrorCode.DB_001

    def __init__(self, name: str) -> None:
        self.name = name
        self.endpoint = f"memory:{name}"
        self.batches: list[list[Record]] = []
        self.down = False
        self.hang = False
        self.hang_open = False
        self.delay = 0.0
        self.opens = 0
        self.closed = False

    @property
    def records(self) -> list[Record]:
        return [r for batch in self.batches for r in batch]

    async def open(self) -> None:
        self.opens += 1
        if self.hang_open:
            await asyncio.Event().wait()
        if self.down:
            raise SinkError(f"{self.name}: connection refused")

    async def write(self, records: Sequence[Record]) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise SinkError(f"{self.name}: connection refused")
        self.batches.append(list(records))

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tickers(n: int, start: int = 0, exchange: str = "binance") -> list[Ticker]:
    return [Ticker(exchange, "BTC/USDT:USDT", T0 + i, T0 + i, last=float(i)) for i in range(start, start + n)]


def batch_config(tmp_path: Path, **overrides) -> BatchProcessingConfig:
    values = {"batch_size": 100, "flush_interval": 3600.0, "queue_max_size": 10_000, "spool_dir": tmp_path}
    return BatchProcessingConfig(**(values | overrides))


def make_writer(sink, journal: Journal, tmp_path: Path, clock=None, *, stop_timeout=5.0,
                write_timeout=60.0, connect_timeout=10.0, wall_clock=time.time, **batch) -> BatchWriter:
    return BatchWriter(sink, journal, batch_config(tmp_path, **batch), FAST_RETRY, BREAKER,
                       stop_timeout=stop_timeout, write_timeout=write_timeout, connect_timeout=connect_timeout,
                       clock=clock or FakeClock(), wall_clock=wall_clock)


@asynccontextmanager
async def journal_with_writers(tmp_path: Path, *sinks, clock=None, max_bytes: int = 2**30,
                               segment_bytes: int | None = None, **options) -> AsyncIterator[tuple[Journal, list[BatchWriter]]]:
    """A journal under `tmp_path` and a writer per sink, closed in the daemon's order."""
    async with AsyncExitStack() as stack:
        journal = Journal(tmp_path, max_bytes=max_bytes, segment_bytes=segment_bytes,
                          frame_records=options.get("batch_size", 100))
        await stack.enter_async_context(journal)
        writers = [make_writer(sink, journal, tmp_path, clock, **options) for sink in sinks]
        for writer in writers:
            await stack.enter_async_context(writer)
        yield journal, writers


async def eventually(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)
