"""Whether one exchange's stream is up, and REST covering it while it is not.

The stream is up while every connection delivers (or is still within its first
`stream_stale_after`), down as soon as one does not: one `stream_down` line (STREAM_001, or the
failed connection's code) and REST polling of the down connections' symbols, both kinds, every
`ticker_interval`, until every connection delivers again and one `stream_recovered` line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from collector import metrics
from collector.errors import ErrorCode
from collector.exchanges.source import ExchangeSource
from collector.streams.connection import Connection
from collector.streams.report import CONNECTING, DOWN, UP
from collector.records import Record

log = structlog.get_logger(__name__)


class StreamState:
    """`update(now)` after any change of `connections` (the owner's list, read, not copied);
    `fallback_loop()` runs beside them and polls `source` while the stream is down."""

    def __init__(self, source: ExchangeSource, connections: Sequence[Connection], *,
                 emit: Callable[[list[Record]], Awaitable[None]], ticker_interval: float,
                 stale_after: float, clock: Callable[[], float]) -> None:
        self.name = source.name
        self.state = CONNECTING
        self.fallbacks = 0
        self.fallback_records = 0
        self._source = source
        self._connections = connections
        self._emit = emit
        self._ticker_interval = ticker_interval
        self._stale_after = stale_after
        self._clock = clock
        self._down_since: float | None = None
        self._down = asyncio.Event()

    @property
    def falling_back(self) -> bool:
        return self._down.is_set()

    def status(self) -> dict:
        """Its part of /health's `exchanges.<name>.stream`."""
        return {"state": self.state, "fallbacks": self.fallbacks, "fallback_active": self.falling_back,
                "fallback_records": self.fallback_records}

    def update(self, now: float) -> None:
        connections = self._connections
        if all(c.up or c.joining(now, self._stale_after) for c in connections):
            state = UP
        elif any(c.failed for c in connections):
            state = DOWN
        else:
            state = self.state if self.state != UP else DOWN
        if state == self.state:
            return
        previous, self.state = self.state, state
        if state == DOWN:
            self._went_down(now)
        elif state == UP:
            self._came_up(previous, now)

    def _went_down(self, now: float) -> None:
        self._down_since = now
        self.fallbacks += 1
        metrics.stream_fallbacks.labels(self.name).inc()
        failed = [c for c in self._connections if not c.up]
        first = next((c for c in failed if c.last_error), None)
        log.warning("stream_down", exchange=self.name,
                    error_code=str(first.error_code if first else ErrorCode.STREAM_001),
                    reason=first.last_error if first else "no data yet", connections_down=len(failed),
                    connections=len(self._connections), fallback="rest", ticker_interval=self._ticker_interval)
        self._down.set()

    def _came_up(self, previous: str, now: float) -> None:
        self._down.clear()
        if previous == DOWN:
            log.info("stream_recovered", exchange=self.name, connections=len(self._connections),
                     down_s=round(now - (self._down_since or now), 3), fallback_records=self.fallback_records)
        else:
            log.info("stream_up", exchange=self.name, connections=len(self._connections))
        self._down_since = None

    def _down_symbols(self) -> dict[str, set[str]]:
        """Per record kind, the symbols of the connections not delivering: every kind, since a
        fault seldom spares the exchange's other connections, and the watchdog judges some of
        them later (a quiet channel) or only through the records they fill (binance bookTicker)."""
        connections = self._connections
        symbols = set().union(*(c.symbols for c in connections if not c.up))
        return {kind: symbols for c in connections for kind in c.channel.kinds} if symbols else {}

    async def fallback_loop(self) -> None:
        while True:
            await self._down.wait()
            started = self._clock()
            down = self._down_symbols()
            for kind in ("ticker", "funding_rate"):
                wanted = down.get(kind)
                if wanted:
                    records = [r for r in await self._source.poll(kind) if r.symbol in wanted]
                    self.fallback_records += len(records)
                    await self._emit(records)
            await asyncio.sleep(max(0.0, self._ticker_interval - (self._clock() - started)))
