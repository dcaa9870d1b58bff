"""What differs between the exchanges' websocket streams, in one table: which ccxt pro methods to
watch, where ccxt pro keeps the latest entry per symbol, how many symbols one connection carries,
and how an entry becomes records (pure functions, the same fields as poll mode).

binanceusdm: the full `ticker` stream (the default miniTicker has no bid/ask fields) and the
`markPrice@1s` stream (mark, index, funding rate and next funding time in the frame's `info`).
bybit: `tickers.<ID>` (snapshot + deltas, merged by ccxt pro) carries both kinds. okx: the
`tickers` and `funding-rate` channels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from collector.exchanges.normalize import MalformedEntry, Normalizer, number, timestamp
from collector.records import FundingRate, Record

Build = Callable[[Normalizer, Mapping[str, Any], int], list[Record]]


def ticker(normalizer: Normalizer, entry: Mapping[str, Any], received_at: int) -> list[Record]:
    """A ccxt pro ticker is ccxt's ticker structure: the poll-mode normalizer applies as is."""
    return [normalizer.ticker(entry, received_at)]


def funding_rate(normalizer: Normalizer, entry: Mapping[str, Any], received_at: int) -> list[Record]:
    return [normalizer.funding_rate(entry, received_at)]


def binance_mark_price(normalizer: Normalizer, entry: Mapping[str, Any], received_at: int) -> list[Record]:
    """`markPriceUpdate`: E event time, p mark, i index, r funding rate, T next funding time."""
    info = entry["info"]
    rate = number(info.get("r"))
    if rate is None:
        raise MalformedEntry("funding rate missing")
    return [FundingRate(
        normalizer.exchange, entry["symbol"], timestamp(info.get("E"), received_at), received_at, rate,
        timestamp(info.get("T"), None), mark_price=number(info.get("p")), index_price=number(info.get("i")),
    )]


def bybit_ticker(normalizer: Normalizer, entry: Mapping[str, Any], received_at: int) -> list[Record]:
    """One merged `tickers.<ID>` entry: the ticker, and the funding rate its row carries."""
    record = normalizer.ticker(entry, received_at)
    info = entry.get("info") or {}
    rate = number(info.get("fundingRate"))
    if rate is None:
        return [record]
    funding = FundingRate(
        record.exchange, record.symbol, record.ts, received_at, rate,
        timestamp(info.get("nextFundingTime"), None), mark_price=record.mark_price,
        index_price=record.index_price,
    )
    return [record, funding]


@dataclass(frozen=True, slots=True)
class Channel:
    """One ccxt pro watch method and what it feeds."""

    name: str  # in task names, logs and /health
    method: str  # ccxt pro method, called as method(symbols, params)
    cache: str  # ccxt pro attribute holding the latest entry per symbol
    kinds: tuple[str, ...]  # record kinds it yields
    build: Build
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamDialect:
    channels: tuple[Channel, ...]
    symbols_per_connection: int  # the venue's limit, with room to spare


DIALECTS: Final[Mapping[str, StreamDialect]] = {
    # binance: at most 1024 streams per connection; ccxt pro counts 200 per stream by default.
    "binanceusdm": StreamDialect((
        Channel("ticker", "watch_tickers", "tickers", ("ticker",), ticker, {"name": "ticker"}),
        Channel("mark_price", "watch_mark_prices", "tickers", ("funding_rate",), binance_mark_price),
    ), symbols_per_connection=200),
    "bybit": StreamDialect((
        Channel("tickers", "watch_tickers", "tickers", ("ticker", "funding_rate"), bybit_ticker),
    ), symbols_per_connection=200),
    # okx: a subscribe request must stay under 64 KiB and 480 requests an hour per connection.
    "okx": StreamDialect((
        Channel("tickers", "watch_tickers", "tickers", ("ticker",), ticker),
        Channel("funding_rate", "watch_funding_rates", "fundingRates", ("funding_rate",), funding_rate),
    ), symbols_per_connection=100),
}


def chunks(symbols: list[str], size: int) -> list[list[str]]:
    """`symbols` in order, cut into lists of at most `size`."""
    return [symbols[i:i + size] for i in range(0, len(symbols), size)]
