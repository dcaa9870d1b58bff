"""okx USDT perpetual swaps (ccxt id `okx`): URLs, limits, messages, and its JSON → our values.

REST (through ccxt's implicit API, collector/exchanges/native_plans.py): `GET /api/v5/market/
tickers?instType=SWAP` (last, bid, ask, 24 h figures), `/api/v5/public/mark-price?instType=SWAP`,
`/api/v5/market/index-tickers?quoteCcy=USDT` (keyed by the index, `BTC-USDT`, not the swap),
`/api/v5/public/open-interest?instType=SWAP`, `/api/v5/public/funding-rate?instId=ANY`.
Websocket channels `tickers`, `mark-price`, `funding-rate`, `index-tickers`, `open-interest`:
`{arg: {channel, instId}, data: [row]}`, each row the same fields as the REST endpoint's.

Decoders return `(exchange time or None, {record field: value})`, read exactly as ccxt's parse
and normalize.py store them (collector/venues/parse.py). Volumes and open interest are stored in
the base currency: okx counts `vol24h` and `oi` in contracts.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Final

from ccxt.base.precise import Precise

from collector.values import cached_interval_hours
from collector.venues.parse import (
    ccxt_number, close, fallback, integer, lenient, nonzero, number, plain_row, strict_time, text,
)

CCXT_ID: Final = "okx"
WS_URL: Final = "wss://ws.okx.com:8443/ws/v5/public"
# okx: a subscribe request under 64 KiB, 480 subscribe requests an hour per connection, and a
# connection closed after 30 s without a message: send "ping" (text) when quiet, expect "pong".
SYMBOLS_PER_CONNECTION: Final = 100
REQUESTS_PER_HOUR: Final = 480
MAX_REQUEST_BYTES: Final = 65_536
PING_INTERVAL: Final = 25.0
PING_MESSAGE: Final = "ping"
PONG_MESSAGE: Final = "pong"
CHANNELS: Final = ("tickers", "mark-price", "funding-rate", "index-tickers", "open-interest")
# ccxt's parse_funding_interval: the milliseconds between two fundings it names.
_INTERVALS: Final = {"3600000": "1h", "7200000": "2h", "14400000": "4h", "28800000": "8h",
                     "57600000": "16h", "86400000": "24h"}

Values = tuple[Any, dict[str, Any]]


def index_id(swap_id: str) -> str:
    """The index a swap follows: `BTC-USDT-SWAP` → `BTC-USDT` (index-tickers' instId)."""
    return swap_id.removesuffix("-SWAP")


def subscribe_message(swap_ids: list[str], channels: tuple[str, ...] = CHANNELS) -> dict[str, Any]:
    args = [{"channel": channel, "instId": index_id(inst) if channel == "index-tickers" else inst}
            for inst in swap_ids for channel in channels]
    return {"op": "subscribe", "args": args}


# --- REST rows and websocket rows: the same fields ------------------------------------------
def ticker_row(row: Mapping[str, Any]) -> Values:
    """`tickers` row → a ticker's values; the base volume is `volCcy24h` (base currency)."""
    get = row.get
    plain = _plain_ticker(row)
    if plain is not None:
        return integer(get("ts")), plain
    mark, index = get("markPx"), get("idxPx")
    last = close(get("last"), get("open24h"))  # first: where ccxt fails the response, so does this
    lenient(get("vol24h"))  # ccxt reads it (contracts) and normalize refuses a NaN before replacing it
    return integer(get("ts")), {
        "last": last,
        "bid": nonzero(get("bidPx")), "ask": nonzero(get("askPx")),
        "mark_price": fallback(lenient(mark), mark), "index_price": fallback(lenient(index), index),
        "high_24h": nonzero(get("high24h")), "low_24h": nonzero(get("low24h")),
        "base_volume_24h": number(get("volCcy24h")), "quote_volume_24h": None,
        "open_interest": None,
    }


_TICKER_TEXTS: Final = itemgetter("last", "open24h", "bidPx", "askPx", "high24h", "low24h", "vol24h", "volCcy24h")
_TICKER_UNSENT: Final = frozenset(("markPx", "idxPx"))


def _plain_ticker(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """`ticker_row`'s values of the usual row (every number plain text, a last price, no mark or
    index: okx sends those on their own endpoints), else None."""
    if not _TICKER_UNSENT.isdisjoint(row):
        return None
    floats = plain_row(_TICKER_TEXTS, row)
    if floats is None:
        return None
    last, _, bid, ask, high, low, _, base = floats
    return {"last": last, "bid": bid or None, "ask": ask or None, "mark_price": None, "index_price": None,
            "high_24h": high or None, "low_24h": low or None, "base_volume_24h": base,
            "quote_volume_24h": None, "open_interest": None}


def mark_price_row(row: Mapping[str, Any]) -> Values:
    """`mark-price` row → mark price."""
    mark = row.get("markPx")
    return integer(row.get("ts")), {"mark_price": fallback(lenient(mark), mark), "index_price": None}


def index_row(row: Mapping[str, Any]) -> Values:
    """`index-tickers` row → index price (keyed by `index_id`)."""
    index = row.get("idxPx")
    return integer(row.get("ts")), {"index_price": fallback(lenient(index), index)}


def open_interest_row(row: Mapping[str, Any], market: Mapping[str, Any] | None) -> Values:
    """`open-interest` row → open interest in the base currency: `oiCcy`, else `oi` (contracts)
    x the market's contract size, else None."""
    contract_size = market.get("contractSize") if market is not None else None
    in_base = row.get("oiCcy")
    if in_base is not None and in_base != "":
        amount = number(in_base)
    else:
        contracts = lenient(row.get("oi"))
        amount = contracts * contract_size if contracts is not None and contract_size else None
    return integer(row.get("ts")), {"open_interest": amount}


def funding_row(row: Mapping[str, Any]) -> Values:
    """`funding-rate` row → a funding rate's values (`ts` the row's own; ccxt gives none)."""
    get = row.get
    funding_time, next_time = text(get("fundingTime")), text(get("nextFundingTime"))
    interval = _INTERVALS.get(Precise.string_sub(next_time, funding_time))
    return get("ts"), {
        "funding_rate": lenient(get("fundingRate")),
        "mark_price": None, "index_price": None,
        "interest_rate": number(get("interestRate")),
        "predicted_funding_rate": lenient(get("nextFundingRate")),
        "next_funding_time": strict_time(integer(get("fundingTime")) or integer(get("nextFundingTime")) or None),
        "funding_interval_hours": None if interval is None else cached_interval_hours(interval),
    }


def funding_history_row(row: Mapping[str, Any]) -> tuple[int | None, float | None, Any]:
    """GET /api/v5/public/funding-rate-history row → (settlement time, realized rate, the raw mark price)."""
    return integer(row.get("fundingTime")), ccxt_number(row.get("realizedRate")), row.get("markPrice")


# --- websocket ------------------------------------------------------------------------------
def frame_rows(frame: Mapping[str, Any]) -> tuple[str | None, str | None, list]:
    """(channel, instId, rows) of a data frame; (None, None, []) for events, acks and errors."""
    arg, data = frame.get("arg"), frame.get("data")
    if "event" in frame or not isinstance(arg, Mapping) or not isinstance(data, list):
        return None, None, []
    return arg.get("channel"), arg.get("instId"), data
