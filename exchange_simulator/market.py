"""Market state of one simulated exchange: seeded random walks that step once per clock tick.

Every price is rounded to the symbol's tick size when it is stepped, so the float a client parses
from the served decimal string is exactly the float kept here; tests compare them with ``==``.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import random
import types
from collections.abc import Callable, Iterable, Mapping

from exchange_simulator.listing import SymbolSpec, TextHash, next_funding_time, seed_for

_FUNDING_CAP = 0.0075


@dataclasses.dataclass(frozen=True, slots=True)
class Quote:
    """What the simulator served for one symbol at one exchange timestamp ``ts`` (UTC ms).

    Volumes are the exchange's own fields: binance volume/quoteVolume, bybit
    volume24h/turnover24h, okx vol24h (contracts)/volCcy24h (base currency).
    """

    symbol: str
    ts: int
    last: float
    bid: float
    ask: float
    mark: float
    index: float
    open_24h: float
    high_24h: float
    low_24h: float
    base_volume: float
    quote_volume: float
    open_interest: float
    funding_rate: float
    next_funding_time: int
    settled_funding_rate: float
    interest_rate: float = 0.0001
    last_trade_ts: int = 0  # the last trade's time: binance's 24 h ticker `closeTime`
    predicted_funding_rate: float = 0.0
    funding_interval_hours: int = 8


@dataclasses.dataclass(slots=True)
class _Walk:
    """Mutable per-symbol state between ticks."""

    spec: SymbolSpec
    hash: TextHash  # hash_int(spec.base, n)
    tick: float  # spec.tick_size
    last: float
    open_24h: float
    high: float
    low: float
    base_volume: float
    open_interest: float
    funding_rate: float
    settled_funding_rate: float
    last_trade_ts: int = 0


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
        self._rng = random.Random(seed_for(exchange, seed))
        self._walks = {s.symbol: self._initial_walk(s) for s in specs}
        self._delisted: dict[str, str] = {}
        self.trading = True  # False: no trades, while the 24 h window and the mark move on
        self._held: dict[str, tuple[str, bool]] = {}  # symbol -> (the one Quote field that moves, time moves)
        self._tick_index: int | None = None
        self._funding_hours = {w.spec.funding_interval_hours for w in self._walks.values()}
        self._funding_times: dict[int, int] = {}
        self._snapshot: dict[str, Quote] = {}
        self._ts = 0
        self.version = 0  # bumped whenever what is served changes; keys response caches
        self.listing_version = 0  # bumped when the instruments listing changes
        self.history: collections.deque[tuple[int, dict[str, Quote]]] = collections.deque(
            maxlen=history_ticks
        )

    # --- listing -------------------------------------------------------------------------
    @property
    def specs(self) -> list[SymbolSpec]:
        return [w.spec for w in self._walks.values()]

    def listed_specs(self) -> list[SymbolSpec]:
        """Specs still in the instruments listing (a delisted-by-status symbol stays there)."""
        return [w.spec for s, w in self._walks.items() if self._delisted.get(s) != "remove"]

    def symbols(self) -> list[str]:
        """Unified symbols that are active and quoted."""
        return [s for s in self._walks if s not in self._delisted]

    def is_delisted(self, symbol: str) -> bool:
        return symbol in self._delisted

    def delist(self, symbol: str, mode: str = "status") -> None:
        if symbol not in self._walks:
            raise KeyError(f"{self.exchange} does not list {symbol}")
        if mode not in ("status", "remove"):
            raise ValueError("mode must be 'status' or 'remove'")
        self._delisted[symbol] = mode
        self._snapshot = {k: v for k, v in self._snapshot.items() if k != symbol}
        self.version += 1
        self.listing_version += 1

    def relist(self, symbol: str) -> None:
        """Put a delisted symbol back: to the engine it is a new listing."""
        if self._delisted.pop(symbol, None) is not None:
            self.version += 1
            self.listing_version += 1

    def hold(self, symbol: str, moving: str, time_moves: bool = True) -> None:
        """From the next tick on, every value served for `symbol` stays as it is except `moving`
        (a Quote field, e.g. open_interest or funding_rate); its exchange time moves on, or with
        `time_moves=False` stays too (an exchange that stamps its last trade)."""
        if symbol not in self._walks:
            raise KeyError(f"{self.exchange} does not list {symbol}")
        if moving not in Quote.__dataclass_fields__ or moving in ("symbol", "ts"):
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
            for walk in self._walks.values():
                walk.last_trade_ts = self._ts
        # the next funding time of each interval in use, before and after this step
        before, self._funding_times = self._funding_times, {
            hours: next_funding_time(self._ts, hours) for hours in self._funding_hours}
        if not first:
            for walk in self._walks.values():
                hours = walk.spec.funding_interval_hours
                self._step(walk, before[hours] != self._funding_times[hours])
        previous, self._snapshot = self._snapshot, {
            s: self._quote(w) for s, w in self._walks.items() if s not in self._delisted
        }
        for symbol, (moving, time_moves) in self._held.items():
            if symbol in previous and symbol in self._snapshot:
                old, new = previous[symbol], self._snapshot[symbol]
                self._snapshot[symbol] = dataclasses.replace(
                    old, ts=new.ts if time_moves else old.ts, **{moving: getattr(new, moving)})
        self.history.append((self._ts, self._snapshot))
        self.version += 1
        return True

    @property
    def ts(self) -> int:
        return self._ts

    def quotes(self) -> Mapping[str, Quote]:
        """The current tick's quotes as they are, no new tick taken (for the websocket feed,
        which steps the market itself once per round of pushes)."""
        return types.MappingProxyType(self._snapshot)

    def snapshot(self) -> dict[str, Quote]:
        """Current served values per unified symbol (a new tick is taken if one began)."""
        self.advance()
        return dict(self._snapshot)

    def served(self, symbol: str, ts: int) -> Quote | None:
        for tick_ts, quotes in reversed(self.history):
            if tick_ts == ts:
                return quotes.get(symbol)
        return None

    # --- random walk ---------------------------------------------------------------------
    def _initial_walk(self, spec: SymbolSpec) -> _Walk:
        rng = self._rng
        last = spec.initial_price * math.exp(rng.gauss(0.0, 0.02))
        rate = round(rng.gauss(0.0001, 0.00005), 8)
        return _Walk(
            spec=spec,
            hash=TextHash(spec.base),
            tick=spec.tick_size,
            last=last,
            open_24h=last * math.exp(rng.gauss(0.0, 0.02)),
            high=last * (1 + rng.uniform(0.005, 0.04)),
            low=last * (1 - rng.uniform(0.005, 0.04)),
            base_volume=rng.uniform(1e5, 1e7) / spec.initial_price,
            open_interest=rng.uniform(1e6, 1e8) / spec.initial_price,
            funding_rate=rate,
            settled_funding_rate=rate,
        )

    def _step(self, walk: _Walk, settled: bool) -> None:
        rng = self._rng
        if self.trading:
            walk.last *= math.exp(rng.gauss(0.0, 0.0008))
            walk.high = max(walk.high, walk.last)
            walk.low = min(walk.low, walk.last)
            walk.base_volume += rng.uniform(0.0, 50.0) / walk.spec.initial_price * 100
            walk.open_interest = max(1.0, walk.open_interest * math.exp(rng.gauss(0.0, 0.001)))
            walk.last_trade_ts = self._ts
        else:  # the oldest trades leave the 24 h window: volumes fall, the price stays
            walk.base_volume *= 0.999
        drift = (0.0001 - walk.funding_rate) * 0.01 + rng.gauss(0.0, 0.000005)
        walk.funding_rate = max(-_FUNDING_CAP, min(_FUNDING_CAP, walk.funding_rate + drift))
        if settled:
            walk.settled_funding_rate = walk.funding_rate

    def _quote(self, walk: _Walk) -> Quote:
        spec, ts, tick, drawn = walk.spec, self._ts, walk.tick, walk.hash
        d = spec.price_decimals
        last = round(walk.last, d)
        spread = tick * (1 + (drawn(ts) % 3))
        mark = round(last * (1 + ((drawn(ts + 1) % 21) - 10) * 1e-5), d)
        index = round(mark * (1 + ((drawn(ts + 2) % 21) - 10) * 1e-5), d)
        base_volume = round(walk.base_volume, 3)
        return Quote(
            symbol=spec.symbol,
            ts=ts,
            last=last,
            bid=round(last - spread, d),
            ask=round(last + tick, d),
            mark=mark,
            index=index,
            open_24h=round(walk.open_24h, d),
            high_24h=round(max(walk.high, walk.open_24h, last + tick), d),
            low_24h=round(min(walk.low, walk.open_24h, last - spread), d),
            base_volume=base_volume,
            quote_volume=round(base_volume * (walk.high + walk.low) / 2, 4),
            open_interest=round(walk.open_interest, 3),
            funding_rate=round(walk.funding_rate, 8),
            next_funding_time=self._funding_times[spec.funding_interval_hours],
            settled_funding_rate=round(walk.settled_funding_rate, 8),
            last_trade_ts=walk.last_trade_ts or ts,
            predicted_funding_rate=round(walk.funding_rate * 0.9 + 0.00001, 8),
            funding_interval_hours=spec.funding_interval_hours,
        )
