"""A per-exchange request pacer that replaces ccxt's leaky bucket, crediting idle time.

ccxt (4.5.x, Python async) weighs each request by the exchange's cost (binance's all-symbol
ticker call costs 40 units) and lets it start once its bucket holds no debt. But its bucket only
refills while requests are queued: after a costly call followed by an idle pause, the next request
still waits out the whole debt (2 s for cost 40 at 1200 units a minute), however long the pause
was (ccxt issue #25556). Polling every few seconds, every binance request then waited ~2 s.

`RateLimiter` keeps ccxt's contract (`await throttle(cost)` before each request, one unit every
`rateLimit` ms, a request starts when the previous ones' cost has drained, no bursts) but counts
the drain in wall time: the time the next request may start is a single number, and an idle pause
simply lets it fall behind the clock. Requests start in the order they asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from collector import metrics


class RateLimiter:
    def __init__(
        self,
        exchange: str,
        seconds_per_unit: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if seconds_per_unit < 0:
            raise ValueError(f"seconds_per_unit must be >= 0, got {seconds_per_unit}")
        self.exchange = exchange
        self.seconds_per_unit = seconds_per_unit
        self._clock = clock
        self._sleep = sleep
        self._free_at = float("-inf")  # when the cost booked so far has drained

    async def __call__(self, cost: float | None = None) -> None:
        """Wait until a request of `cost` units (1 when None) may start; book its cost."""
        cost = 1.0 if cost is None else float(cost)
        now = self._clock()
        start = max(now, self._free_at)
        # Booked before waiting, so concurrent callers queue behind each other in call order. A
        # caller cancelled while waiting leaves its slot unused: slower, never over the limit.
        self._free_at = start + cost * self.seconds_per_unit
        wait = start - now
        if wait > 0:
            metrics.rate_limit_wait.labels(exchange=self.exchange).inc(wait)
            await self._sleep(wait)
