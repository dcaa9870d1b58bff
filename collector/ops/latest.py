"""What the daemon collected, for the status page: the latest record per exchange, and its rate.

"Show me what it collected" without SQL: per exchange one symbol (BTC/USDT:USDT where the exchange
lists it, else the first symbol by name), its latest ticker and funding rate, and the records
emitted in the last minute. Only references to records already made are kept, a few per exchange.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from collector.records import Record

PREFERRED_SYMBOL = "BTC/USDT:USDT"
RATE_WINDOW_S = 60.0


class LatestRecords:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._symbol: dict[str, str] = {}
        self._latest: dict[tuple[str, str], Record] = {}  # (exchange, kind) -> record
        self._counts: dict[str, deque[tuple[float, int]]] = {}

    def observe(self, records: Iterable[Record]) -> None:
        now = self._clock()
        counts: dict[str, int] = {}
        for record in records:
            exchange = record.exchange
            counts[exchange] = counts.get(exchange, 0) + 1
            shown = self._symbol.get(exchange)
            if shown != record.symbol and _better(record.symbol, shown):
                self._symbol[exchange] = shown = record.symbol
                self._latest = {key: r for key, r in self._latest.items() if key[0] != exchange}
            if record.symbol == shown:
                key = (exchange, record.kind)
                current = self._latest.get(key)
                if current is None or record.ts >= current.ts:
                    self._latest[key] = record
        for exchange, count in counts.items():
            self._counts.setdefault(exchange, deque()).append((now, count))

    def records_per_min(self, exchange: str) -> float:
        window = self._counts.get(exchange)
        if not window:
            return 0.0
        horizon = self._clock() - RATE_WINDOW_S
        while window and window[0][0] < horizon:
            window.popleft()
        return float(sum(count for _, count in window)) * 60.0 / RATE_WINDOW_S

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """{exchange: {symbol, last, funding_rate, ts, received_at, records_per_min}}; times in
        epoch seconds, the newest of the symbol's ticker and funding rate."""
        found = {}
        for exchange in sorted(self._counts):
            ticker = self._latest.get((exchange, "ticker"))
            funding = self._latest.get((exchange, "funding_rate"))
            shown = [r for r in (ticker, funding) if r is not None]
            found[exchange] = {
                "symbol": self._symbol.get(exchange),
                "last": getattr(ticker, "last", None),
                "funding_rate": getattr(funding, "funding_rate", None),
                "ts": max(r.ts for r in shown) / 1000 if shown else None,
                "received_at": max(r.received_at for r in shown) / 1000 if shown else None,
                "records_per_min": self.records_per_min(exchange),
            }
        return found


def _better(symbol: str, shown: str | None) -> bool:
    if shown is None:
        return True
    if shown == PREFERRED_SYMBOL:
        return False
    return symbol == PREFERRED_SYMBOL or symbol < shown
