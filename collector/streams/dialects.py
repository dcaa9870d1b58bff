"""What differs between the exchanges' websocket streams, in one table: which ccxt pro methods to
watch, where ccxt pro keeps the latest entry per symbol, how many symbols one connection carries,
and how an entry becomes records (pure functions, the same fields as poll mode).

binanceusdm: the `ticker` stream (24 h statistics and last; binance futures sends no bid/ask in
it), the `bookTicker` stream (bid, ask) and the `markPrice@1s` stream (mark, index, funding rate
and next funding time in the frame's `info`); tickers take bid/ask and mark/index from the other
two (`Fill`, merged per symbol at the sweep, stream_merge.py), as poll mode merges ticker/24hr,
bookTicker and premiumIndex. The funding interval is in none of its frames: the REST source's
fundingInfo (asked when streaming starts, with every REST fallback, and at each markets reload
while a symbol's is not known) gives it.
bybit: `tickers.<ID>` (snapshot + deltas, merged by ccxt pro) carries both kinds; the funding
interval is the market's `fundingInterval` (instruments-info, as in poll mode). okx: the
`tickers`, `mark-price` and `funding-rate` channels (no index price or open interest: ccxt pro
watches neither the `index-tickers` of a swap nor `open-interest`); okx pushes `funding-rate`
only every 30-90 s, so the watchdog gives that channel 90 s more than `stream_stale_after`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from collector.exchanges.normalize import Normalizer
from collector.records import FundingRate, Record
from collector.values import MalformedEntry, number, timestamp

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


def bybit_interval(market: Mapping[str, Any]) -> float | None:
    """instruments-info `fundingInterval`, in minutes (ccxt's parse_funding_rate reads the same)."""
    minutes = number((market.get("info") or {}).get("fundingInterval"))
    return None if minutes is None else minutes / 60


def no_records(normalizer: Normalizer, entry: Mapping[str, Any], received_at: int) -> list[Record]:
    """A channel that only fills the records of another (`Fill`)."""
    return []


def ticker_prices(fields: tuple[str, ...]) -> Callable[[Normalizer, Mapping[str, Any]], dict]:
    """Reads `fields` of a ccxt ticker structure, as poll mode reads a later part's."""
    def read(normalizer: Normalizer, entry: Mapping[str, Any]) -> dict:
        _, values = normalizer.ticker_values(entry)
        return {f: values.get(f) for f in fields}
    return read


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
    # How long the venue may send nothing new on it while all is well (seconds): the watchdog
    # waits this on top of `stream_stale_after` (okx pushes funding rates every 30-90 s).
    quiet: float = 0.0


@dataclass(frozen=True, slots=True)
class Fill:
    """Records of `kind` take the fields `read` gives from `channel`'s latest entry of their
    symbol, where they are still empty (poll mode's later parts, normalize.merge)."""

    kind: str
    channel: str  # a Channel.name of the same dialect
    read: Callable[[Normalizer, Mapping[str, Any]], dict]


# A data frame's (market id, exchange time in ms or None), or None for acks, pongs and errors: read
# for every frame, before anything is parsed (ccxtpro.py), so a few lookups and no more.

def binance_frame(message: Mapping[str, Any]) -> tuple[str, int | None] | None:
    """`{e: 24hrTicker | bookTicker | markPriceUpdate, E: ms, s: BTCUSDT, ...}`; acks have no `e`."""
    if "e" not in message:
        return None
    try:
        return message["s"], message.get("E")
    except KeyError:
        return None


def bybit_frame(message: Mapping[str, Any]) -> tuple[str, int | None] | None:
    """`{topic: tickers.BTCUSDT, type: snapshot | delta, ts: ms, data: {...}}`; acks and pongs
    have `op` and no `data`."""
    if "data" not in message or "op" in message:
        return None
    try:
        return message["topic"].rpartition(".")[2], message.get("ts")
    except (KeyError, AttributeError):
        return None


def bybit_frame_merge(kept: Mapping[str, Any], new: Mapping[str, Any]) -> Mapping[str, Any]:
    """A delta on top of the kept frame, as ccxt pro merges it into its entry (its `info` extended
    by the delta's fields); a snapshot replaces it."""
    if new.get("type") != "delta" or not isinstance(kept.get("data"), dict) or not isinstance(new.get("data"), dict):
        return new
    return {**new, "type": kept.get("type"), "data": {**kept["data"], **new["data"]}}


def okx_frame(message: Mapping[str, Any]) -> tuple[str, int | None] | None:
    """`{arg: {channel, instId}, data: [{..., ts: "ms"}]}`; acks and errors carry `event`."""
    if "data" not in message or "event" in message:
        return None
    try:
        market = message["arg"]["instId"]
    except (KeyError, TypeError):
        return None
    try:
        return market, int(message["data"][0]["ts"])
    except (KeyError, IndexError, TypeError, ValueError):
        return market, None


@dataclass(frozen=True, slots=True)
class StreamDialect:
    channels: tuple[Channel, ...]
    symbols_per_connection: int  # the venue's limit, with room to spare
    # A data frame's market id and exchange time, and how a later frame joins a kept one
    # (ccxtpro.py); None: not a data frame.
    frame_ident: Callable[[Mapping[str, Any]], tuple[str, int | None] | None]
    frame_merge: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None
    fills: tuple[Fill, ...] = ()
    # Funding interval (hours) from a loaded market, where no frame carries it.
    market_interval: Callable[[Mapping[str, Any]], float | None] | None = None
    rest_intervals: bool = False  # ask the REST source's funding rates for it when streaming starts


DIALECTS: Final[Mapping[str, StreamDialect]] = {
    # binance: at most 1024 streams per connection; ccxt pro counts 200 per stream by default.
    "binanceusdm": StreamDialect((
        Channel("ticker", "watch_tickers", "tickers", ("ticker",), ticker, {"name": "ticker"}),
        Channel("book_ticker", "watch_bids_asks", "bidsasks", (), no_records),
        Channel("mark_price", "watch_mark_prices", "tickers", ("funding_rate",), binance_mark_price),
    ), symbols_per_connection=200, frame_ident=binance_frame, fills=(
        Fill("ticker", "book_ticker", ticker_prices(("bid", "ask"))),
        Fill("ticker", "mark_price", ticker_prices(("mark_price", "index_price"))),
    ), rest_intervals=True),
    "bybit": StreamDialect((
        Channel("tickers", "watch_tickers", "tickers", ("ticker", "funding_rate"), bybit_ticker),
    ), symbols_per_connection=200, frame_ident=bybit_frame, frame_merge=bybit_frame_merge,
        market_interval=bybit_interval),
    # okx: a subscribe request must stay under 64 KiB and 480 requests an hour per connection.
    "okx": StreamDialect((
        Channel("tickers", "watch_tickers", "tickers", ("ticker",), ticker),
        Channel("mark_price", "watch_mark_prices", "tickers", (), no_records),
        Channel("funding_rate", "watch_funding_rates", "fundingRates", ("funding_rate",), funding_rate,
                quiet=90.0),
    ), symbols_per_connection=100, frame_ident=okx_frame, fills=(
        Fill("ticker", "mark_price", ticker_prices(("mark_price",))),
    )),
}


def chunks(symbols: list[str], size: int) -> list[list[str]]:
    """`symbols` in order, cut into lists of at most `size`."""
    return [symbols[i:i + size] for i in range(0, len(symbols), size)]
