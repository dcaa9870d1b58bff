"""Stream owners against the simulator: real ccxt pro over real websockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from collector.config import RetryConfig
from collector.streams.owner import StreamOwner
from collector.records import Record
from collector.runner import settle_heap
from exchange_simulator import Simulator
from tests.support.collection import make_source

FAST_RETRY = RetryConfig(max_attempts=2, base_delay=0.2, max_delay=1.0)


class Emitted(list):
    """The records stream owners handed on, in order, and when each was handed on (UTC ms): a
    streamed record's `received_at` is when its own frame came, the fields other streams fill
    are their latest by the time it was handed on (a sweep later, or a reconnect's wait)."""

    def __init__(self) -> None:
        super().__init__()
        self._at: dict[int, int] = {}

    def extend(self, records) -> None:
        records = list(records)
        now = int(time.time() * 1000)
        for record in records:
            self._at[id(record)] = now
        super().extend(records)

    def emitted_ms(self, record: Record) -> int | None:
        return self._at.get(id(record))


@contextlib.asynccontextmanager
async def streaming(sim: Simulator, names: tuple[str, ...], *, ticker_interval: float = 1.0,
                    publish: Callable[[list[Record]], object] | None = None, settle: bool = False,
                    **settings) -> AsyncIterator[tuple[list[StreamOwner], list[Record]]]:
    """Run a stream owner per exchange while inside; yields (owners, every record emitted), or
    hands the records to `publish` (and yields an empty list) when given. `settle`: the heap
    is settled once the markets are loaded, as the daemon does (runner.settle_heap; for the
    whole process, so only where a test runs alone)."""
    records = Emitted()
    settings = {"mode": "stream", **settings}
    async with contextlib.AsyncExitStack() as stack:
        owners = []
        for name in names:
            source = await stack.enter_async_context(make_source(sim, name, retry=FAST_RETRY, **settings))
            owners.append(StreamOwner(source, source._config, ticker_interval=ticker_interval,
                                      retry=FAST_RETRY, publish=publish or records.extend))
        if settle:
            settle_heap()
        tasks = [asyncio.create_task(o.run(), name=f"stream:{o.name}") for o in owners]
        try:
            yield owners, records
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> float:
    """Poll `predicate` every 20 ms; the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.02)
    return time.monotonic()
