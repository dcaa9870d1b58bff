"""A Sink double and the batching-writer helpers the unit tests of the delivery side share.

`MemorySink` keeps what it was given and can be down, slow or hung; `make_writer` builds a
BatchWriter around any sink with a fast retry, a small breaker and an injected clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from collector.config import BatchProcessingConfig, CircuitBreakerConfig, RetryConfig
from collector.errors import ErrorCode, SinkError
from collector.records import Record, Ticker
from collector.sinks.writer import BatchWriter

T0 = 1_700_000_000_000
FAST_RETRY = RetryConfig(max_attempts=2, base_delay=0.001, max_delay=0.01)
BREAKER = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=5.0)


class MemorySink:
    """A test double of our Sink protocol: keeps what it was given, can be down or hang."""

    error_code = ErrorCode.DB_001

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[list[Record]] = []
        self.down = False
        self.hang = False
        self.delay = 0.0
        self.opens = 0
        self.closed = False

    @property
    def records(self) -> list[Record]:
        return [r for batch in self.batches for r in batch]

    async def open(self) -> None:
        self.opens += 1
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
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tickers(n: int, start: int = 0, exchange: str = "binance") -> list[Ticker]:
    return [Ticker(exchange, "BTC/USDT:USDT", T0 + i, T0 + i, last=float(i)) for i in range(start, start + n)]


def batch_config(tmp_path: Path, **overrides) -> BatchProcessingConfig:
    values = {"batch_size": 100, "flush_interval": 3600.0, "queue_max_size": 10_000, "spool_dir": tmp_path}
    return BatchProcessingConfig(**(values | overrides))


def make_writer(sink, tmp_path, clock=None, *, stop_timeout=5.0, write_timeout=60.0, **batch) -> BatchWriter:
    return BatchWriter(sink, batch_config(tmp_path, **batch), FAST_RETRY, BREAKER,
                       stop_timeout=stop_timeout, write_timeout=write_timeout, clock=clock or FakeClock())
