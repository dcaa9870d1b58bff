"""bybit linear perpetuals (ccxt id `bybit`): URLs, limits, messages, and its JSON → our values.

REST (through ccxt's implicit API, collector/exchanges/native_plans.py): `GET /v5/market/tickers
?category=linear` carries both kinds (prices, 24 h figures, open interest, funding rate and next
funding time); the snapshot time is the envelope's `time`, the rows carry none. The funding
interval is the market's `fundingInterval` (instruments-info, minutes). Settlements:
`GET /v5/market/funding/history`.
Websocket `tickers.<ID>`: a snapshot, then deltas holding only the fields that changed (the
stream keeps the merged row; `merge_delta`), the same field names as the REST rows.

Decoders return `(exchange time or None, {record field: value})`, read exactly as ccxt's parse
and normalize.py store them (collector/venues/parse.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Final

from collector.values import timestamp
from collector.venues.parse import (
    ccxt_number, close, integer, lenient, nonzero, number, plain_row, strict_time, text,
)

CCXT_ID: Final = "bybit"
WS_URL: Final = "wss://stream.bybit.com/v5/public/linear"
# bybit: a subscribe request carries at most 10 topics; keep a connection to a few hundred.
TOPICS_PER_REQUEST: Final = 10
SYMBOLS_PER_CONNECTION: Final = 200
# bybit drops a connection without a ping for 10 min; it recommends one every 20 s.
PING_INTERVAL: Final = 20.0
PING_MESSAGE: Final = {"op": "ping"}

Values = tuple[Any, dict[str, Any]]


def topics(market_ids: list[str]) -> list[str]:
    return [f"tickers.{market_id}" for market_id in market_ids]


def subscribe_messages(market_ids: list[str]) -> list[dict[str, Any]]:
    """One request per `TOPICS_PER_REQUEST` topics."""
    names = topics(market_ids)
    return [{"op": "subscribe", "args": names[i:i + TOPICS_PER_REQUEST]}
            for i in range(0, len(names), TOPICS_PER_REQUEST)]


# --- REST rows and the merged websocket row: the same fields --------------------------------
def ticker_row(row: Mapping[str, Any]) -> Values:
    """GET /v5/market/tickers row (or a merged `tickers.<ID>` row) → a ticker's values."""
    get = row.get
    ts = integer(get("time"))
    if ts is None:
        ts = get("timestamp")  # absent from bybit's rows; some recordings add one (normalize.py)
    plain = _plain_ticker(row)
    if plain is not None:
        return ts, plain
    open_interest = get("openInterest")
    return ts, {
        "last": close(get("lastPrice"), get("prevPrice24h"), None, text(get("price24hPcnt")),
                      (get("volume24h"), get("turnover24h")), fraction=True),
        "bid": nonzero(get("bid1Price")), "ask": nonzero(get("ask1Price")),
        "mark_price": lenient(get("markPrice")), "index_price": lenient(get("indexPrice")),
        "high_24h": nonzero(get("highPrice24h")), "low_24h": nonzero(get("lowPrice24h")),
        "base_volume_24h": lenient(get("volume24h")), "quote_volume_24h": lenient(get("turnover24h")),
        "open_interest": number(open_interest),
    }


_TICKER_TEXTS: Final = itemgetter("lastPrice", "prevPrice24h", "price24hPcnt", "volume24h", "turnover24h",
                                  "bid1Price", "ask1Price", "markPrice", "indexPrice", "highPrice24h",
                                  "lowPrice24h", "openInterest")


def _plain_ticker(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """`ticker_row`'s values of the usual row (every number plain text, a last price), else None."""
    floats = plain_row(_TICKER_TEXTS, row)
    if floats is None:
        return None
    last, _, _, base, quote, bid, ask, mark, index, high, low, open_interest = floats
    return {"last": last, "bid": bid or None, "ask": ask or None, "mark_price": mark, "index_price": index,
            "high_24h": high or None, "low_24h": low or None, "base_volume_24h": base,
            "quote_volume_24h": quote, "open_interest": open_interest}


def funding_row(row: Mapping[str, Any], market: Mapping[str, Any] | None, snapshot_time: Any) -> Values:
    """GET /v5/market/tickers row → a funding rate's values; the envelope's time is its `ts`."""
    get = row.get
    return integer(snapshot_time), {
        "funding_rate": lenient(get("fundingRate")),
        "mark_price": lenient(get("markPrice")), "index_price": lenient(get("indexPrice")),
        "interest_rate": None, "predicted_funding_rate": None,
        "next_funding_time": strict_time(integer(get("nextFundingTime")) or None),
        "funding_interval_hours": market_interval(market),
    }


def market_interval(market: Mapping[str, Any] | None) -> float | None:
    """The market's `fundingInterval` (minutes) in hours: 30 minutes are 0.5 (ccxt's
    parse_funding_rate writes whole hours, "0h"; the ccxt path reads the market too)."""
    info = market.get("info") if isinstance(market, Mapping) else None
    minutes = integer(info.get("fundingInterval")) if isinstance(info, Mapping) else None
    return minutes / 60 if minutes else None


def funding_history_row(row: Mapping[str, Any]) -> tuple[int | None, float | None, Any]:
    """GET /v5/market/funding/history row → (settlement time, rate, the raw mark price)."""
    return integer(row.get("fundingRateTimestamp")), ccxt_number(row.get("fundingRate")), row.get("markPrice")


# --- websocket ------------------------------------------------------------------------------
def merge_delta(kept: Mapping[str, Any] | None, frame: Mapping[str, Any]) -> dict[str, Any] | None:
    """`tickers.<ID>` frame → the symbol's whole row: a snapshot replaces, a delta updates the
    kept row; None for a delta before any snapshot."""
    data = frame.get("data")
    if not isinstance(data, dict):
        return None
    if frame.get("type") == "snapshot":
        return dict(data)
    return None if kept is None else {**kept, **data}


def ticker_frame(row: Mapping[str, Any], frame: Mapping[str, Any]) -> Values:
    """The merged `tickers.<ID>` row → a ticker's values; its time is the frame's `ts`."""
    ts, values = ticker_row(row)
    frame_ts = integer(frame.get("ts"))
    return (ts if frame_ts is None else frame_ts), values


def frame_funding(row: Mapping[str, Any], ticker_values: Mapping[str, Any]) -> dict[str, Any] | None:
    """The funding rate the merged row carries, with the ticker's mark and index (None: no rate
    in it, no funding record); the record's time is the ticker's."""
    rate = number(row.get("fundingRate"))
    if rate is None:
        return None
    return {"funding_rate": rate, "next_funding_time": timestamp(row.get("nextFundingTime"), None),
            "mark_price": ticker_values["mark_price"], "index_price": ticker_values["index_price"]}


def frame_market(frame: Mapping[str, Any]) -> str | None:
    topic = frame.get("topic")
    return topic.rpartition(".")[2] if type(topic) is str else None
