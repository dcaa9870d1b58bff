"""Symbols a per-symbol endpoint rejects as unknown (ccxt's BadSymbol: binance -1121 "Invalid
symbol.", okx 51001, ...).

Such an answer speaks for that endpoint only: binance's per-symbol `openInterest` may refuse a
symbol its markets list as trading. So it never takes the symbol away from the other kinds; only
the markets (market_watch.py) decide that a symbol is gone. What the endpoint fills stays empty
for that symbol, each rejection is counted (`collector_symbols_rejected_total{exchange,
endpoint}`), and an episode is logged once when it starts (`symbols_rejected`, EXCHANGE_004) and
once when the endpoint answers for the symbol again (`symbols_accepted`). The start of an episode
also asks for a markets reload (at most one a minute), so that a real delisting is found soon.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

import structlog

from collector import metrics
from collector.errors import ErrorCode

log = structlog.get_logger(__name__)

_NAMED = 20  # symbols named in one log line; `count` says how many there are


class Rejections:
    """The episodes of one exchange: endpoint -> the symbols it currently rejects."""

    def __init__(self, exchange: str, on_new: Callable[[], None]) -> None:
        self.exchange = exchange
        self._on_new = on_new
        self._episodes: dict[str, set[str]] = {}

    def rejected(self, endpoint: str) -> frozenset[str]:
        return frozenset(self._episodes.get(endpoint, ()))

    def settle(self, endpoint: str, asked: Iterable[str], rejected: Collection[str],
               answered: Collection[str]) -> None:
        """After one round of `endpoint` over `asked`: count and log what changed. A symbol no
        longer asked (the markets dropped it) leaves its episode without a line."""
        current = self._episodes.setdefault(endpoint, set())
        current.intersection_update(asked)
        new = set(rejected) - current
        back = current.intersection(answered)
        if rejected:
            metrics.child(metrics.symbols_rejected, self.exchange, endpoint).inc(len(rejected))
        if new:
            log.warning("symbols_rejected", exchange=self.exchange, endpoint=endpoint,
                        symbols=sorted(new)[:_NAMED], count=len(new), error_code=ErrorCode.EXCHANGE_004,
                        detail="the fields this request fills stay empty for them; still collected")
            self._on_new()
        if back:
            log.info("symbols_accepted", exchange=self.exchange, endpoint=endpoint,
                     symbols=sorted(back)[:_NAMED], count=len(back))
        current.update(new)
        current.difference_update(back)
