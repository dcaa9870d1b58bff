"""The markets of one exchange source: loaded on start, reloaded every `markets_ttl` (sooner when a
bulk answer lacks wanted symbols), and the symbols to collect they give (`wanted`).

A failed reload keeps the symbols of the last load and is tried again after a minute; a symbol
that is no longer an active linear perpetual is dropped (the markets alone decide that: one
request rejecting a symbol does not, see rejections.py), and a newly listed one is collected
from the next poll on. With shards, `wanted` holds only the symbols this shard owns (shard.py):
every kind, both modes and the listings and delistings read it, so ownership is this one filter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import structlog
from ccxt.base import errors as ccxt_errors

from collector import metrics
from collector.errors import ErrorCode, one_line
from collector.exchanges import market_selection as mk
from collector.exchanges.kind_state import describe, error_code
from collector.resilience.ttl_cache import TTLCache
from collector.resilience.retry import RetryPolicy

log = structlog.get_logger(__name__)

_MARKETS_RETRY_AFTER = 60.0  # seconds before a failed markets reload is tried again


class MarketWatch:
    """`load(policy)` asks the exchange for its markets; `current()` gives those ccxt holds;
    `on_listed(symbols)` hears of every symbol that becomes wanted; `owns(symbol)` says whether
    this shard collects it."""

    def __init__(self, name: str, exchange_id: str, configured: Iterable[str], *, ttl: float,
                 timeout: float, load: Callable[[RetryPolicy], Awaitable[dict]],
                 current: Callable[[], dict], on_listed: Callable[[Iterable[str]], None],
                 owns: Callable[[str], bool] = lambda symbol: True) -> None:
        self.name = name
        self.exchange_id = exchange_id
        self.wanted: frozenset[str] | None = None  # None until markets were loaded once
        self.listed = 0  # symbols to collect before the shard's share was taken
        self._owns = owns
        self._configured = tuple(configured)
        self._timeout = timeout
        self._load_markets = load
        self._current = current
        self._on_listed = on_listed
        self._markets = TTLCache(max_size=1, default_ttl=ttl)
        self._lock = asyncio.Lock()
        self._loaded_at = 0.0
        self._validated = False

    async def load_at_start(self, policy: RetryPolicy) -> None:
        try:
            markets = await self._load(policy)
        except ccxt_errors.BaseError as err:
            # Not fatal: the exchange may be back later; polls load the markets first.
            log.warning("markets_unavailable", exchange=self.name, error_code=error_code(err),
                        error=describe(err, exchange=self.name, operation="markets load",
                                       timeout=self._timeout))
            return
        mk.check_symbols(self.name, self.exchange_id, self._configured, markets)
        self._apply(markets)

    async def refresh(self, policy: RetryPolicy) -> bool:
        """Reload the markets when the last load expired; raises only while none was ever loaded.
        True when new markets were loaded."""
        if self._markets.get("markets") is not None:
            return False
        async with self._lock:
            if self._markets.get("markets") is not None:
                return False
            try:
                markets = await self._load(policy)
            except ccxt_errors.BaseError as err:
                if self.wanted is None:
                    raise  # nothing to poll against yet: this poll fails
                log.warning("markets_reload_failed", exchange=self.name, error_code=error_code(err),
                            error=one_line(err))
                self._markets.set("markets", self._current(), ttl=_MARKETS_RETRY_AFTER)
                return False
            self._apply(markets)
            return True

    def suspect_delistings(self) -> None:
        """Wanted symbols missing from a bulk answer: reload markets soon (not every tick)."""
        if time.monotonic() - self._loaded_at >= _MARKETS_RETRY_AFTER:
            self._markets.pop("markets")

    async def _load(self, policy: RetryPolicy) -> dict:
        markets = await self._load_markets(policy)
        self._markets.set("markets", markets)
        self._loaded_at = time.monotonic()
        return markets

    def _apply(self, markets: dict) -> None:
        if not self._validated:
            self._validated = True
            unknown = mk.unknown_symbols(self._configured, markets)
            if unknown:  # only reached when the markets could not be loaded at start
                log.error("unknown_symbols", exchange=self.name, error_code=ErrorCode.CONFIG_003,
                          symbols=unknown, ccxt_id=self.exchange_id)
        listed = mk.wanted_symbols(self._configured, markets)
        wanted = frozenset(filter(self._owns, listed))
        old = self.wanted
        self.wanted, self.listed = wanted, len(listed)
        metrics.child(metrics.symbols_owned, self.name).set(len(wanted))
        if old is None:
            log.info("markets_loaded", exchange=self.name, symbols=len(wanted), listed=len(listed))
            self._on_listed(wanted)
            return
        for symbol in sorted(old - wanted):
            log.warning("symbol_delisted", exchange=self.name, symbol=symbol,
                        detail="no longer an active linear perpetual; dropped")
        added = wanted - old
        if added:
            log.info("symbols_listed", exchange=self.name, symbols=sorted(added)[:20], count=len(added))
            self._on_listed(added)
