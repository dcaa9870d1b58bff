"""The seeded random walks of one exchange's symbols, stepped all at once with numpy.

One array per quantity and an element per symbol: a tick's step and its served values cost a few
dozen array operations whatever the number of symbols, where a Python loop per symbol made the
walk most of what the simulator's feed cost.

Prices are rounded to the symbol's decimals as `rint(x * 10**d) / 10**d`: the double nearest to
a decimal of `d` places, so the float a client parses from the served text is exactly the float
kept here (tests compare them with ``==``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from exchange_simulator.listing import SymbolSpec
from exchange_simulator.quotes import FIELDS, ROW

_FUNDING_CAP = 0.0075
_INTEREST_RATE = 0.0001


def rounded(values: np.ndarray, places: np.ndarray | int) -> np.ndarray:
    """`values` to `places` decimals (per element when `places` is an array of scales' exponents)."""
    scale = 10.0 ** places
    return np.rint(values * scale) / scale


class Walks:
    """The mutable state of every symbol's walk between ticks, a numpy array per quantity."""

    def __init__(self, specs: Sequence[SymbolSpec], rng: np.random.Generator) -> None:
        n = len(specs)
        self._rng = rng
        self.initial = np.array([s.initial_price for s in specs], dtype=np.float64)
        self.decimals = np.array([s.price_decimals for s in specs], dtype=np.int64)
        self.tick_size = np.array([s.tick_size for s in specs], dtype=np.float64)
        self.hours = np.array([s.funding_interval_hours for s in specs], dtype=np.int64)
        self.last = self.initial * np.exp(rng.normal(0.0, 0.02, n))
        self.open_24h = self.last * np.exp(rng.normal(0.0, 0.02, n))
        self.high = self.last * (1 + rng.uniform(0.005, 0.04, n))
        self.low = self.last * (1 - rng.uniform(0.005, 0.04, n))
        self.base_volume = rng.uniform(1e5, 1e7, n) / self.initial
        self.open_interest = rng.uniform(1e6, 1e8, n) / self.initial
        self.funding_rate = rounded(rng.normal(0.0001, 0.00005, n), 8)
        self.settled_funding_rate = self.funding_rate.copy()
        self.last_trade_ts = np.zeros(n, dtype=np.float64)

    def step(self, ts: int, trading: bool, settled: np.ndarray) -> None:
        """One tick of every walk; `settled`: the symbols whose funding boundary just passed."""
        rng, n = self._rng, len(self.last)
        if trading:
            self.last *= np.exp(rng.normal(0.0, 0.0008, n))
            np.maximum(self.high, self.last, out=self.high)
            np.minimum(self.low, self.last, out=self.low)
            self.base_volume += rng.uniform(0.0, 50.0, n) / self.initial * 100
            self.open_interest = np.maximum(1.0, self.open_interest * np.exp(rng.normal(0.0, 0.001, n)))
            self.last_trade_ts[:] = ts
        else:  # the oldest trades leave the 24 h window: volumes fall, the price stays
            self.base_volume *= 0.999
        drift = (0.0001 - self.funding_rate) * 0.01 + rng.normal(0.0, 0.000005, n)
        self.funding_rate = np.clip(self.funding_rate + drift, -_FUNDING_CAP, _FUNDING_CAP)
        self.settled_funding_rate = np.where(settled, self.funding_rate, self.settled_funding_rate)

    def served(self, ts: int, next_funding_time: np.ndarray) -> np.ndarray:
        """The values served at `ts`: a row per quote field (quotes.FIELDS), a column per symbol.
        The spread and the mark's and index's offsets are drawn afresh each tick."""
        rng, n, d, tick = self._rng, len(self.last), self.decimals, self.tick_size
        spread = tick * (1 + rng.integers(0, 3, n))
        offsets = rng.integers(-10, 11, (2, n)) * 1e-5
        values = np.empty((len(FIELDS), n), dtype=np.float64)
        last = values[ROW["last"]] = rounded(self.last, d)
        mark = values[ROW["mark"]] = rounded(last * (1 + offsets[0]), d)
        values[ROW["index"]] = rounded(mark * (1 + offsets[1]), d)
        values[ROW["bid"]] = rounded(last - spread, d)
        values[ROW["ask"]] = rounded(last + tick, d)
        values[ROW["open_24h"]] = rounded(self.open_24h, d)
        values[ROW["high_24h"]] = rounded(np.maximum(np.maximum(self.high, self.open_24h), last + tick), d)
        values[ROW["low_24h"]] = rounded(np.minimum(np.minimum(self.low, self.open_24h), last - spread), d)
        base_volume = values[ROW["base_volume"]] = rounded(self.base_volume, 3)
        values[ROW["quote_volume"]] = rounded(base_volume * (self.high + self.low) / 2, 4)
        values[ROW["open_interest"]] = rounded(self.open_interest, 3)
        values[ROW["funding_rate"]] = rounded(self.funding_rate, 8)
        values[ROW["settled_funding_rate"]] = rounded(self.settled_funding_rate, 8)
        values[ROW["predicted_funding_rate"]] = rounded(self.funding_rate * 0.9 + 0.00001, 8)
        values[ROW["interest_rate"]] = _INTEREST_RATE
        values[ROW["ts"]] = ts
        values[ROW["next_funding_time"]] = next_funding_time
        values[ROW["last_trade_ts"]] = np.where(self.last_trade_ts > 0, self.last_trade_ts, ts)
        values[ROW["funding_interval_hours"]] = self.hours
        return values
