"""binance USDⓈ-M futures (ccxt id `binanceusdm`): URLs, limits, messages, and its JSON → our values.

REST (the requests still go through ccxt's implicit API, collector/exchanges/native_plans.py):
`GET /fapi/v1/ticker/24hr` (last, 24 h high/low/volumes; no bid/ask), `/fapi/v1/ticker/bookTicker`
(bid, ask), `/fapi/v1/premiumIndex` (mark, index, funding rate and next funding time; its `time`
is the snapshot's), `/fapi/v1/fundingInfo` (the symbols whose funding interval is not 8 h),
`/fapi/v1/openInterest?symbol=X`.
Websocket (`<id>@ticker`, `<id>@bookTicker`, `<id>@markPrice@1s`): frames `24hrTicker`,
`bookTicker`, `markPriceUpdate`, the same values under one-letter keys.

Every decoder returns `(exchange time or None, {record field: value})`, the values read exactly
as ccxt's parse and normalize.py store them (collector/venues/parse.py), and raises
MalformedEntry where that path skips the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Final

from collector.values import MalformedEntry, cached_interval_hours, timestamp
from collector.venues.parse import (
    ccxt_number, close, fallback, first_integer, integer, lenient, nonzero, number, plain_row, strict_time, text,
)

CCXT_ID: Final = "binanceusdm"
WS_URL: Final = "wss://fstream.binance.com/stream"
# The raw-frame endpoints the native stream uses: bookTicker on /public/ws, the rest on /market/ws
# (what this base becomes with the category inserted before /ws, as ccxt pro 4.5 connects).
WS_BASE: Final = "wss://fstream.binance.com/ws"
# binance: at most 1024 streams per connection and 10 incoming messages (subscribe, pong) a second.
STREAMS_PER_CONNECTION: Final = 1024
SYMBOLS_PER_CONNECTION: Final = 200  # 3 streams each, room to spare
SUBSCRIBE_PER_SECOND: Final = 10
# The server pings every 3 min and drops a connection silent for 10 min; a pong echoes the ping's
# payload (websocket control frames: the client library answers them).
PING_INTERVAL: Final = 180.0
STREAMS: Final = ("ticker", "bookTicker", "markPrice@1s")

Values = tuple[Any, dict[str, Any]]


def stream_names(market_ids: list[str]) -> list[str]:
    """Every stream a set of markets needs, e.g. `btcusdt@ticker`."""
    return [f"{market_id.lower()}@{stream}" for market_id in market_ids for stream in STREAMS]


def subscribe_message(streams: list[str], request_id: int) -> dict[str, Any]:
    return {"method": "SUBSCRIBE", "params": streams, "id": request_id}


# --- REST rows ----------------------------------------------------------------------------
def ticker_24hr(row: Mapping[str, Any]) -> Values:
    """GET /fapi/v1/ticker/24hr row → a ticker's values (its `closeTime` is the last trade's)."""
    plain = _plain_24hr(row)
    if plain is not None:
        return _time(row), plain
    get = row.get
    # ccxt derives a vwap from the volumes only where the row has none (it always has).
    volumes = None if text(get("weightedAvgPrice")) else (get("volume"), get("quoteVolume"))
    values = {
        "last": close(get("lastPrice"), get("openPrice"), get("priceChange"),
                      text(get("priceChangePercent")), volumes),
        "bid": nonzero(get("bidPrice")), "ask": nonzero(get("askPrice")),
        "mark_price": fallback(lenient(get("markPrice")), get("markPrice")),
        "index_price": fallback(lenient(get("indexPrice")), get("indexPrice")),
        "high_24h": nonzero(get("highPrice")), "low_24h": nonzero(get("lowPrice")),
        "base_volume_24h": lenient(get("volume")), "quote_volume_24h": lenient(get("quoteVolume")),
        "open_interest": None,
    }
    return _time(row), values


_24HR_TEXTS: Final = itemgetter("lastPrice", "openPrice", "priceChange", "priceChangePercent", "highPrice",
                                "lowPrice", "volume", "quoteVolume")
_24HR_UNSENT: Final = frozenset(("bidPrice", "askPrice", "markPrice", "indexPrice"))


def _plain_24hr(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """`ticker_24hr`'s values of the usual row (every number plain text, a last price, no bid,
    ask, mark or index: binance sends none), else None."""
    if not _24HR_UNSENT.isdisjoint(row):
        return None
    floats = plain_row(_24HR_TEXTS, row)
    if floats is None:
        return None
    last, _, _, _, high, low, base, quote = floats
    return {"last": last, "bid": None, "ask": None, "mark_price": None, "index_price": None,
            "high_24h": high or None, "low_24h": low or None, "base_volume_24h": base,
            "quote_volume_24h": quote, "open_interest": None}


def book_ticker(row: Mapping[str, Any]) -> Values:
    """GET /fapi/v1/ticker/bookTicker row → bid and ask."""
    return _time(row), {"bid": nonzero(row.get("bidPrice")), "ask": nonzero(row.get("askPrice"))}


def premium_prices(row: Mapping[str, Any]) -> Values:
    """GET /fapi/v1/premiumIndex row → mark and index price; `time` is the snapshot's."""
    mark, index = row.get("markPrice"), row.get("indexPrice")
    return _time(row), {"mark_price": fallback(lenient(mark), mark),
                        "index_price": fallback(lenient(index), index)}


def premium_funding(row: Mapping[str, Any]) -> Values:
    """GET /fapi/v1/premiumIndex row → a funding rate's values."""
    get = row.get
    hours = text(get("fundingIntervalHours"))
    return integer(get("time")), {
        "funding_rate": lenient(get("lastFundingRate")),
        "mark_price": lenient(get("markPrice")), "index_price": lenient(get("indexPrice")),
        "interest_rate": fallback(lenient(get("interestRate")), get("interestRate")),
        "predicted_funding_rate": None,
        "next_funding_time": strict_time(integer(get("nextFundingTime")) or None),
        "funding_interval_hours": _hours(hours),
    }


def funding_info(row: Mapping[str, Any]) -> Values:
    """GET /fapi/v1/fundingInfo row → the symbol's funding interval (hours)."""
    return integer(row.get("time")), {"funding_interval_hours": _hours(text(row.get("fundingIntervalHours")))}


def open_interest(row: Mapping[str, Any]) -> Values:
    """GET /fapi/v1/openInterest?symbol=X → open interest, in the base currency."""
    return integer(row.get("time")), {"open_interest": lenient(row.get("openInterest"))}


def funding_history_row(row: Mapping[str, Any]) -> tuple[int | None, float | None, Any]:
    """GET /fapi/v1/fundingRate row → (settlement time, rate, the raw mark price)."""
    return integer(row.get("fundingTime")), ccxt_number(row.get("fundingRate")), row.get("markPrice")


# --- websocket frames (ccxt pro's parse_ws_ticker reads the same keys) ------------------
def ticker_frame(frame: Mapping[str, Any]) -> Values:
    """`24hrTicker`: c last, o open, p change, P percent, w vwap, h/l high/low, v/q volumes,
    C close time (the record's time, else E the event's)."""
    get = frame.get
    volumes = None if text(get("w")) else (get("v"), get("q"))
    return first_integer(frame, ("C", "E", "time")), {
        "last": close(get("c"), get("o"), get("p"), text(get("P")), volumes),
        "bid": nonzero(get("b")), "ask": nonzero(get("a")),
        # ccxt pro gives none; normalize reads the raw keys a REST row would carry
        "mark_price": number(get("markPrice")), "index_price": number(get("indexPrice")),
        "high_24h": nonzero(get("h")), "low_24h": nonzero(get("l")),
        "base_volume_24h": lenient(get("v")), "quote_volume_24h": lenient(get("q")),
        "open_interest": None,
    }


def book_ticker_frame(frame: Mapping[str, Any]) -> Values:
    """`bookTicker`: b best bid, a best ask, E event time. ccxt pro parses it as a whole ticker
    and normalize reads every field of that: a frame carrying 24 h keys too is read as fully."""
    found = integer(frame.get("E"))
    ts = found if found is not None else integer(frame.get("time"))
    if _TICKER_KEYS.isdisjoint(frame):  # what binance sends
        return ts, {"bid": nonzero(frame.get("b")), "ask": nonzero(frame.get("a"))}
    values = ticker_frame(frame)[1]
    return ts, {"bid": values["bid"], "ask": values["ask"]}


_TICKER_KEYS: Final = frozenset(("c", "o", "p", "P", "w", "h", "l", "v", "q", "markPrice", "indexPrice"))


def mark_price_frame(frame: Mapping[str, Any]) -> Values:
    """`markPriceUpdate` → the mark and index price a ticker takes (p, i; E the event time)."""
    mark = text(frame.get("mp"))  # ccxt pro reads `mp` first
    return integer(frame.get("E")), {"mark_price": lenient(frame.get("p") if mark is None else mark),
                                     "index_price": lenient(frame.get("i"))}


def mark_price_funding(frame: Mapping[str, Any]) -> Values:
    """`markPriceUpdate` → a funding rate's values: r rate, T next funding time, p mark, i index
    (the raw frame's text, as streams.dialects.binance_mark_price reads it; no rate: skipped)."""
    get = frame.get
    rate = number(get("r"))
    if rate is None:
        raise MalformedEntry("funding rate missing")
    return get("E"), {"funding_rate": rate, "next_funding_time": timestamp(get("T"), None),
                      "mark_price": number(get("p")), "index_price": number(get("i"))}


def _time(row: Mapping[str, Any]) -> int | None:
    """ccxt's `safe_integer_2(row, 'closeTime', 'time')`."""
    found = integer(row.get("closeTime"))
    return found if found is not None else integer(row.get("time"))


def _hours(hours: str | None) -> float | None:
    """ccxt's funding `interval` ("8h") from the row's hours, as normalize.py reads it."""
    return None if hours is None else cached_interval_hours(hours + "h")
