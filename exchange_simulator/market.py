"""Market state of one simulated exchange: seeded random walks that step once per clock tick.

Every price is rounded to the symbol's tick size when a tick is served, so the float a client parses
from the served decimal string is exactly the float kept here; tests compare them with ``==``.
The walks themselves are walk.py's arrays; what each tick served is a `quotes.Tick`.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable

import numpy as np

from exchange_simulator.listing import SymbolSpec, next_funding_time, seed_for
from exchange_simulator.quotes import ROW, Quote, Tick, empty_tick
from exchange_simulator.walk import Walks

__all__ = ["MarketState", "Quote", "Tick"]


class MarketState:
    """The random walks of one exchange, advanced at most once per tick of the clock."""

    def __init__(
        self,
        exchange: str,
        specs: Iterable[SymbolSpec],
        seed: int,
        clock: Callable[[], float],
        tick: float = 1.0,
        history_ticks: int = 300,
    ) -> None:
        self.exchange = exchange
        self.clock = clock
        self.tick = tick
        self.skew_ms = 0
        self._specs = {s.symbol: s for s in specs}
        self._column = {symbol: i for i, symbol in enumerate(self._specs)}
        self._walks = Walks(list(self._specs.values()), np.random.Generator(np.random.PCG64(seed_for(exchange, seed))))
        self._delisted: dict[str, str] = {}
        self._quoted = dict(self._column)  # the columns of the symbols quoted (not delisted)
        self.trading = True  # False: no trades, while the 24 h window and the mark move on
        self._held: dict[str, tuple[str, bool]] = {}  # symbol -> (the one Quote field that moves, time moves)
        self._tick_index: int | None = None
        self._funding_columns = {hours: np.flatnonzero(self._walks.hours == hours)
                                 for hours in sorted(set(self._walks.hours.tolist()))}
        self._funding_times: dict[int, int] = {}
        self._snapshot = empty_tick()
        self._ts = 0
        self.version = 0  # bumped whenever what is served changes; keys response caches
        self.listing_version = 0  # bumped when the instruments listing changes
        self.history: collections.deque[tuple[int, Tick]] = collections.deque(maxlen=history_ticks)

    # --- listing -------------------------------------------------------------------------
    @property
    def specs(self) -> list[SymbolSpec]:
        return list(self._specs.values())

    def listed_specs(self) -> list[SymbolSpec]:
        """Specs still in the instruments listing (a delisted-by-status symbol stays there)."""
        return [spec for s, spec in self._specs.items() if self._delisted.get(s) != "remove"]

    def symbols(self) -> list[str]:
        """Unified symbols that are active and quoted."""
        return list(self._quoted)

    def is_delisted(self, symbol: str) -> bool:
        return symbol in self._delisted

    def delist(self, symbol: str, mode: str = "status") -> None:
        if symbol not in self._specs:
            raise KeyError(f"{self.exchange} does not list {symbol}")
        if mode not in ("status", "remove"):
            raise ValueError("mode must be 'status' or 'remove'")
        self._delisted[symbol] = mode
        self._relisted()
        self._snapshot = self._snapshot.without(symbol)

    def relist(self, symbol: str) -> None:
        """Put a delisted symbol back: to the engine it is a new listing."""
        if self._delisted.pop(symbol, None) is not None:
            self._relisted()

    def _relisted(self) -> None:
        self._quoted = {s: i for s, i in self._column.items() if s not in self._delisted}
        self.version += 1
        self.listing_version += 1

    def hold(self, symbol: str, moving: str, time_moves: bool = True) -> None:
        """From the next tick on, every value served for `symbol` stays as it is except `moving`
        (a Quote field, e.g. open_interest or funding_rate); its exchange time moves on, or with
        `time_moves=False` stays too (an exchange that stamps its last trade)."""
        if symbol not in self._specs:
            raise KeyError(f"{self.exchange} does not list {symbol}")
        if moving not in ROW or moving == "ts":
            raise ValueError(f"moving must be a value field of a quote, not {moving!r}")
        self._held[symbol] = (moving, time_moves)

    # --- time ----------------------------------------------------------------------------
    def set_skew(self, skew_ms: int) -> None:
        if skew_ms != self.skew_ms:
            self.skew_ms = skew_ms
            self._tick_index = None  # the next request takes a fresh, skewed timestamp

    def now_ms(self) -> int:
        """The exchange's own clock, skew included."""
        return int(self.clock() * 1000) + self.skew_ms

    def advance(self) -> bool:
        """Step the walks if the clock entered a new tick; True when it did."""
        index = math.floor(self.clock() / self.tick)
        if index == self._tick_index:
            return False
        first = self._tick_index is None
        self._tick_index = index
        self._ts = self.now_ms()
        if first:
            self._walks.last_trade_ts[:] = self._ts
        # the next funding time of each interval in use, before and after this step
        before, self._funding_times = self._funding_times, {
            hours: next_funding_time(self._ts, hours) for hours in self._funding_columns}
        next_funding = np.empty(len(self._column), dtype=np.float64)
        settled = np.zeros(len(self._column), dtype=bool)
        for hours, columns in self._funding_columns.items():
            next_funding[columns] = self._funding_times[hours]
            settled[columns] = before.get(hours) != self._funding_times[hours]
        if not first:
            self._walks.step(self._ts, self.trading, settled)
        values = self._walks.served(self._ts, next_funding)
        self._keep_held(values)
        self._snapshot = Tick(self._snapshot.serial + 1, self._ts, values, self._quoted)
        self.history.append((self._ts, self._snapshot))
        self.version += 1
        return True

    def _keep_held(self, values: np.ndarray) -> None:
        """A held symbol's column as the last tick served it, but for its moving field (and ts)."""
        previous = self._snapshot
        for symbol, (moving, time_moves) in self._held.items():
            if symbol in previous and symbol in self._quoted:
                column = self._column[symbol]
                moved = [ROW[moving], *([ROW["ts"]] if time_moves else [])]
                kept = previous.values[:, column].copy()
                kept[moved] = values[moved, column]
                values[:, column] = kept

    @property
    def ts(self) -> int:
        return self._ts

    def quotes(self) -> Tick:
        """The current tick's quotes as they are, no new tick taken (for the websocket feed,
        which steps the market itself once per round of pushes)."""
        return self._snapshot

    def snapshot(self) -> dict[str, Quote]:
        """Current served values per unified symbol (a new tick is taken if one began)."""
        self.advance()
        return dict(self._snapshot)

    def served(self, symbol: str, ts: int) -> Quote | None:
        for tick_ts, quotes in reversed(self.history):
            if tick_ts == ts:
                return quotes.get(symbol)
        return None
