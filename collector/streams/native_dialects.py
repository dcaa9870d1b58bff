"""What differs between the venues' websockets on the native path (`decoder: native`), in one
table: where to connect, what to subscribe, how to ping, what a refusal looks like, how a frame
becomes the symbol's latest entry, and how an entry becomes records (the venue modules'
decoders, collector/venues/). The connection itself (native.py) knows nothing of any venue.

The channels, fills and conflation keys are those of the ccxt pro path (dialects.py), so both
decoders keep the same updates and merge the same fields. A native entry is
`{"symbol", "frame", "row"}`: the frame as the venue sent it and the row a record reads (bybit:
the snapshot with every delta since merged in; okx: the frame's first row; binance: the frame);
a fill's decoded values join it once read (`_read`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from collector.exchanges.normalize import Normalizer
from collector.records import FundingRate, Record
from collector.streams.dialects import DIALECTS, Fill, StreamDialect
from collector.venues import binance, build, bybit, okx

Entry = dict[str, Any]
Absorb = Callable[[Entry | None, str, Mapping[str, Any]], Entry | None]  # (previous, symbol, frame)


@dataclass(frozen=True, slots=True)
class Wire:
    """One venue's websocket dialect."""

    url: Callable[[Any, str], str]  # (the configured urls.api.ws or None, channel name) -> URL
    subscribe: Callable[[list[str], str], list[Any]]  # (market ids, channel name) -> messages
    rejection: Callable[[Mapping[str, Any]], str | None]  # a refused subscription's text, else None
    absorb: Absorb  # a data frame -> the symbol's new latest entry (None: nothing to read yet)
    ping: Any = None  # an application-level ping, sent every `ping_every` s (None: the server pings)
    ping_every: float = 0.0
    pong: str | None = None  # a text answer to that ping, not JSON


# --- binance USDⓈ-M ------------------------------------------------------------------------
_BINANCE_STREAMS: Final = {"ticker": "ticker", "book_ticker": "bookTicker", "mark_price": "markPrice@1s"}


def _binance_url(configured: Any, channel: str) -> str:
    """bookTicker on /public/ws, the others on /market/ws (as ccxt pro 4.5 connects)."""
    base = configured.get("linear") if isinstance(configured, Mapping) else None
    root = (base or binance.WS_BASE).removesuffix("/ws")
    return f"{root}/{'public' if channel == 'book_ticker' else 'market'}/ws"


def _binance_subscribe(ids: list[str], channel: str) -> list[Any]:
    stream = _BINANCE_STREAMS[channel]
    return [binance.subscribe_message([f"{i.lower()}@{stream}" for i in ids], 1)]


def _binance_rejection(frame: Mapping[str, Any]) -> str | None:
    error = frame.get("error")
    return None if error is None else str(error)


def _frame_entry(previous: Entry | None, symbol: str, frame: Mapping[str, Any]) -> Entry:
    return {"symbol": symbol, "frame": frame, "row": frame}


def _binance_ticker(n: Normalizer, e: Entry, received_at: int) -> list[Record]:
    return [build.ticker(n.exchange, e["symbol"], binance.ticker_frame(e["row"]), received_at)]


def _binance_funding(n: Normalizer, e: Entry, received_at: int) -> list[Record]:
    return [build.funding_rate(n.exchange, e["symbol"], binance.mark_price_funding(e["row"]), received_at)]


# --- bybit linear ----------------------------------------------------------------------------
def _bybit_url(configured: Any, channel: str) -> str:
    public = configured.get("public") if isinstance(configured, Mapping) else None
    return (public.get("linear") if isinstance(public, Mapping) else None) or bybit.WS_URL


def _bybit_rejection(frame: Mapping[str, Any]) -> str | None:
    if frame.get("op") == "subscribe" and frame.get("success") is False:
        return str(frame.get("ret_msg"))
    return None


def _bybit_entry(previous: Entry | None, symbol: str, frame: Mapping[str, Any]) -> Entry | None:
    row = bybit.merge_delta(None if previous is None else previous["row"], frame)
    return None if row is None else {"symbol": symbol, "frame": frame, "row": row}


def _bybit_records(n: Normalizer, e: Entry, received_at: int) -> list[Record]:
    decoded = bybit.ticker_frame(e["row"], e["frame"])
    ticker = build.ticker(n.exchange, e["symbol"], decoded, received_at)
    funding = bybit.frame_funding(e["row"], decoded[1])
    if funding is None:
        return [ticker]
    return [ticker, FundingRate(n.exchange, e["symbol"], ticker.ts, received_at, **funding)]


# --- okx USDT swaps --------------------------------------------------------------------------
_OKX_CHANNELS: Final = {"tickers": "tickers", "mark_price": "mark-price", "funding_rate": "funding-rate"}


def _okx_url(configured: Any, channel: str) -> str:
    return f"{configured}/public" if isinstance(configured, str) else okx.WS_URL


def _okx_rejection(frame: Mapping[str, Any]) -> str | None:
    return str(frame.get("msg")) if frame.get("event") == "error" else None


def _okx_entry(previous: Entry | None, symbol: str, frame: Mapping[str, Any]) -> Entry:
    return {"symbol": symbol, "frame": frame, "row": frame["data"][0]}


def _okx_ticker(n: Normalizer, e: Entry, received_at: int) -> list[Record]:
    return [build.ticker(n.exchange, e["symbol"], okx.ticker_row(e["row"]), received_at)]


def _okx_funding(n: Normalizer, e: Entry, received_at: int) -> list[Record]:
    return [build.funding_rate(n.exchange, e["symbol"], okx.funding_row(e["row"]), received_at)]


def _native(dialect: StreamDialect, builds: Mapping[str, Callable], fills: tuple) -> StreamDialect:
    """The ccxt pro dialect's channels and keys, with the venue module's decoders."""
    channels = tuple(replace(c, method="", cache="", build=builds.get(c.name, c.build)) for c in dialect.channels)
    return replace(dialect, channels=channels, fills=fills, market_interval=dialect.market_interval)


def _read(decode: Callable[[Mapping[str, Any]], tuple[Any, dict]], fields: tuple[str, ...]) -> Callable:
    """A fill's values of an entry, decoded once per entry and kept in it under `fields`: every
    record of the symbol until the channel's next entry reads the same ones (okx: a mark-price
    row for two tickers, binance: a markPrice frame for two)."""
    def read(normalizer: Normalizer, entry: Entry) -> dict:
        values = entry.get(fields)
        if values is None:
            decoded = decode(entry["row"])[1]
            values = entry[fields] = {f: decoded.get(f) for f in fields}
        return values
    return read


NATIVE_DIALECTS: Final[Mapping[str, StreamDialect]] = {
    "binanceusdm": _native(DIALECTS["binanceusdm"], {"ticker": _binance_ticker, "mark_price": _binance_funding}, (
        Fill("ticker", "book_ticker", _read(binance.book_ticker_frame, ("bid", "ask"))),
        Fill("ticker", "mark_price", _read(binance.mark_price_frame, ("mark_price", "index_price"))),
    )),
    "bybit": _native(DIALECTS["bybit"], {"tickers": _bybit_records}, ()),
    "okx": _native(DIALECTS["okx"], {"tickers": _okx_ticker, "funding_rate": _okx_funding}, (
        Fill("ticker", "mark_price", _read(okx.mark_price_row, ("mark_price",))),
    )),
}

WIRES: Final[Mapping[str, Wire]] = {
    "binanceusdm": Wire(_binance_url, _binance_subscribe, _binance_rejection, _frame_entry),
    "bybit": Wire(_bybit_url, lambda ids, channel: bybit.subscribe_messages(ids), _bybit_rejection, _bybit_entry,
                  ping=bybit.PING_MESSAGE, ping_every=bybit.PING_INTERVAL),
    "okx": Wire(_okx_url, lambda ids, channel: [okx.subscribe_message(ids, (_OKX_CHANNELS[channel],))],
                _okx_rejection, _okx_entry, ping=okx.PING_MESSAGE, ping_every=okx.PING_INTERVAL, pong=okx.PONG_MESSAGE),
}

