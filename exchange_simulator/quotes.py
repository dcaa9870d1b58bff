"""What an exchange served: one `Quote` per symbol, and one `Tick` of all of them.

A tick keeps its values as one numpy array, a row per quote field and a column per symbol, and
builds a symbol's `Quote` only when one is asked for (a REST body, a test): the websocket feed
renders its frames from the rows, so a fast feed never builds the objects at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import numpy as np


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


FIELDS = tuple(field.name for field in dataclasses.fields(Quote))[1:]  # a tick's rows, in this order
ROW = {name: row for row, name in enumerate(FIELDS)}
_INT_ROWS = [ROW[name] for name in ("ts", "next_funding_time", "last_trade_ts", "funding_interval_hours")]
_INTS = frozenset(FIELDS[at] for at in _INT_ROWS)


class Columns:
    """A tick's rows as lists of Python numbers, `columns.<field>` a value per symbol (times as
    ints: every value a tick holds is exact as a float64, prices rounded doubles, times < 2**53).
    A row is converted the first time it is read: a channel's frames read a few of them."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    def __getattr__(self, field: str) -> list:
        if field not in ROW:
            raise AttributeError(field)
        row = self._values[ROW[field]]
        converted = (row.astype(np.int64) if field in _INTS else row).tolist()
        setattr(self, field, converted)
        return converted


class Tick(Mapping[str, Quote]):
    """The quotes of one tick, unified symbol -> Quote, of the symbols quoted in it.

    `values[ROW[field], i]` is `field` of the symbol in column `i` (`index[symbol]`); columns keep
    the exchange's listing order from tick to tick, a delisted symbol's too (it is only left out
    of `index`). `serial` numbers the ticks of one market: equal serials, equal values.
    """

    __slots__ = ("serial", "ts", "values", "index", "_quotes")

    def __init__(self, serial: int, ts: int, values: np.ndarray, index: Mapping[str, int]) -> None:
        self.serial = serial
        self.ts = ts
        self.values = values
        self.index = index
        self._quotes: dict[str, Quote] = {}

    def __getitem__(self, symbol: str) -> Quote:
        quote = self._quotes.get(symbol)
        if quote is None:
            row = self.values[:, self.index[symbol]].tolist()
            for at in _INT_ROWS:
                row[at] = int(row[at])
            quote = self._quotes[symbol] = Quote(symbol, *row)
        return quote

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.index

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"Tick(serial={self.serial}, ts={self.ts}, symbols={len(self.index)})"

    def columns(self) -> Columns:
        """The rows as lists of Python numbers (the frames' renderers read these)."""
        return Columns(self.values)

    def without(self, symbol: str) -> Tick:
        """The same tick with `symbol` no longer quoted (delisted within the tick)."""
        index = {s: i for s, i in self.index.items() if s != symbol}
        tick = Tick(self.serial, self.ts, self.values, index)
        tick._quotes = {s: q for s, q in self._quotes.items() if s != symbol}
        return tick


def empty_tick() -> Tick:
    """What is served before the first tick: nothing."""
    return Tick(0, 0, np.empty((len(FIELDS), 0)), {})
