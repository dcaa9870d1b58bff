"""The poll plans of `decoder: native`: the requests of plans.py, the rows decoded by collector/venues/.

Each part still sends its request through ccxt's implicit API method (the one plans.py names for
the weight estimate), so ccxt signs it, weighs it, maps its errors, and our response cache and
pacing see it as before; only ccxt's parse_* is replaced. A part answers, per unified symbol, the
venue decoder's `(exchange time, values)`, or the MalformedEntry that makes normalize.merge skip
the symbol as it skips a ccxt structure it cannot use. Text ccxt's parse would fail on fails the
same way here (ValueError → calls.py's BadResponse, retried). The decoders only read a body:
the response cache hands it to them uncopied (`response_cache.read_only`).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from collector.exchanges.plans import PLANS, Part, PartResult, plan
from collector.resilience.response_cache import read_only
from collector.values import MalformedEntry
from collector.venues import binance, bybit, okx
from collector.venues.parse import integer, text

def decoded(entry: Any) -> tuple[Any, dict]:
    """normalize.merge's reader of a native part: the values, or the entry's MalformedEntry."""
    if type(entry) is tuple:
        return entry
    raise entry


# --- markets: exchange id -> the loaded ccxt market (swaps only) ----------------------------
_SWAPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forget_swaps(exchange: Any) -> None:
    """After a markets reload: the table of the replaced markets goes now, not at the next native
    poll (a streaming exchange may not poll for hours: it would keep a whole generation alive)."""
    _SWAPS.pop(exchange, None)


def swaps(exchange: Any) -> Mapping[str, Mapping[str, Any]]:
    """The loaded swap markets by the exchange's id, rebuilt when ccxt reloads its markets."""
    by_id = exchange.markets_by_id or {}
    cached = _SWAPS.get(exchange)
    if cached is None or cached[0] is not by_id:
        table = {}
        for market_id, markets in by_id.items():
            swap = next((m for m in markets if m.get("swap")), None)
            if swap is not None:
                table[market_id] = swap
        cached = _SWAPS[exchange] = (by_id, table)
    return cached[1]


def rows_by_symbol(rows: Any, markets: Mapping[str, Mapping], key: str, decode: Callable,
                   with_market: bool = False) -> dict[str, Any]:
    """Each row decoded under its market's unified symbol; rows of unknown markets are left
    out (ccxt keys them by the raw id, which no poll wants)."""
    decoded_rows: dict[str, Any] = {}
    if not isinstance(rows, list):
        return decoded_rows
    for row in rows:
        if type(row) is not dict:
            continue
        market = markets.get(text(row.get(key)))
        try:
            # ccxt parses a row of a market it does not know as well: text it cannot read
            # there fails the response on both paths.
            values = decode(row, market) if with_market else decode(row)
        except MalformedEntry as err:
            values = err
        if market is not None:
            decoded_rows[market["symbol"]] = values
    return decoded_rows


def _data(body: Any) -> Any:
    return body.get("data") if isinstance(body, dict) else None


def _bybit_list(body: Any) -> Any:
    result = body.get("result") if isinstance(body, dict) else None
    return result.get("list") if isinstance(result, dict) else None


# --- the calls ------------------------------------------------------------------------------
async def binance_tickers(exchange: Any) -> PartResult:
    body = await exchange.fapiPublicGetTicker24hr({})
    return rows_by_symbol(body, swaps(exchange), "symbol", binance.ticker_24hr), None


async def binance_book_tickers(exchange: Any) -> PartResult:
    body = await exchange.fapiPublicGetTickerBookTicker({})
    return rows_by_symbol(body, swaps(exchange), "symbol", binance.book_ticker), None


async def binance_mark_prices(exchange: Any) -> PartResult:
    body = await exchange.fapiPublicGetPremiumIndex({})
    return rows_by_symbol(body, swaps(exchange), "symbol", binance.premium_prices), None


async def binance_funding_rates(exchange: Any) -> PartResult:
    body = await exchange.fapiPublicGetPremiumIndex({})
    return rows_by_symbol(body, swaps(exchange), "symbol", binance.premium_funding), None


async def binance_funding_intervals(exchange: Any) -> PartResult:
    body = await exchange.fapiPublicGetFundingInfo({})
    return rows_by_symbol(body, swaps(exchange), "symbol", binance.funding_info), None


async def binance_open_interest(exchange: Any, symbol: str) -> Any:
    body = await exchange.fapiPublicGetOpenInterest({"symbol": exchange.market(symbol)["id"]})
    try:
        return binance.open_interest(body if isinstance(body, dict) else {})
    except MalformedEntry as err:
        return err


async def bybit_tickers(exchange: Any) -> PartResult:
    body = await exchange.publicGetV5MarketTickers({"category": "linear"})
    envelope = body.get("time") if isinstance(body, dict) else None
    return rows_by_symbol(_bybit_list(body), swaps(exchange), "symbol", bybit.ticker_row), integer(envelope)


async def bybit_funding_rates(exchange: Any) -> PartResult:
    body = await exchange.publicGetV5MarketTickers({"category": "linear"})
    snapshot = body.get("time") if isinstance(body, dict) else None
    return rows_by_symbol(_bybit_list(body), swaps(exchange), "symbol",
                          lambda row, market: bybit.funding_row(row, market, snapshot), True), None


async def okx_tickers(exchange: Any) -> PartResult:
    body = await exchange.publicGetMarketTickers({"instType": "SWAP"})
    return rows_by_symbol(_data(body), swaps(exchange), "instId", okx.ticker_row), None


async def okx_mark_prices(exchange: Any) -> PartResult:
    body = await exchange.publicGetPublicMarkPrice({"instType": "SWAP"})
    return rows_by_symbol(_data(body), swaps(exchange), "instId", okx.mark_price_row), None


async def okx_index_prices(exchange: Any) -> PartResult:
    body = await exchange.publicGetMarketIndexTickers({"quoteCcy": "USDT"})
    by_index = {okx.index_id(market_id): market for market_id, market in swaps(exchange).items()}
    return rows_by_symbol(_data(body), by_index, "instId", okx.index_row), None


async def okx_open_interests(exchange: Any) -> PartResult:
    body = await exchange.publicGetPublicOpenInterest({"instType": "SWAP"})
    return rows_by_symbol(_data(body), swaps(exchange), "instId", okx.open_interest_row, True), None


async def okx_funding_rates(exchange: Any) -> PartResult:
    body = await exchange.publicGetPublicFundingRate({"instId": "ANY"})
    return rows_by_symbol(_data(body), swaps(exchange), "instId", okx.funding_row), None


# --- settled funding, one page per call (settlements.py pages through them) -----------------
def history(rows: Any, market: Mapping[str, Any], since: int, key: str, decode: Callable) -> list[dict]:
    """A history page as ccxt's fetch_funding_rate_history leaves it for settlements.py: the
    market's rows from `since` on (a time of 0 or none is no settlement), oldest first, in the
    structure normalize's `settlement` reads."""
    entries = []
    for row in rows if isinstance(rows, list) else ():
        if type(row) is not dict or text(row.get(key)) != market["id"]:
            continue
        settled_at, rate, mark = decode(row)
        if settled_at and settled_at >= since:
            entries.append({"symbol": market["symbol"], "timestamp": settled_at, "fundingRate": rate,
                            "info": {"markPrice": mark}})
    entries.sort(key=lambda entry: entry["timestamp"])
    return entries


async def binance_funding_history(exchange: Any, symbol: str, since: int) -> list[dict]:
    market = exchange.market(symbol)
    body = await exchange.fapiPublicGetFundingRate({"symbol": market["id"], "startTime": since})
    return history(body, market, since, "symbol", binance.funding_history_row)


async def bybit_funding_history(exchange: Any, symbol: str, since: int) -> list[dict]:
    market = exchange.market(symbol)
    minutes = integer((market.get("info") or {}).get("fundingInterval"))
    interval_ms = 8 * 3_600_000 if minutes is None else minutes * 60_000
    # ccxt's request, key for key: a page of at most 200 settlements from `since`
    body = await exchange.publicGetV5MarketFundingHistory({
        "limit": 200, "symbol": market["id"], "category": "linear", "startTime": since,
        "endTime": since + 200 * interval_ms})
    return history(_bybit_list(body), market, since, "symbol", bybit.funding_history_row)[:200]


async def okx_funding_history(exchange: Any, symbol: str, since: int) -> list[dict]:
    market = exchange.market(symbol)
    body = await exchange.publicGetPublicFundingRateHistory({"instId": market["id"], "before": max(since - 1, 0)})
    return history(_data(body), market, since, "instId", okx.funding_history_row)


def _reading_only(call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """`call` with its requests marked read-only for the response cache: no decoder here
    changes a body, so none needs a copy of its own."""
    @functools.wraps(call)
    async def reading(*args: Any) -> Any:
        with read_only():
            return await call(*args)
    return reading


NATIVE_CALLS: Final[Mapping[str, Callable[..., Awaitable[Any]]]] = {
    call.__name__: _reading_only(call) for call in (
        binance_tickers, binance_book_tickers, binance_mark_prices, binance_funding_rates,
        binance_funding_intervals, binance_open_interest, bybit_tickers, bybit_funding_rates,
        okx_tickers, okx_mark_prices, okx_index_prices, okx_open_interests, okx_funding_rates,
        binance_funding_history, bybit_funding_history, okx_funding_history)
}


def _native(part: Part, method: str) -> Part:
    """plans.py's part with its rows decoded by `method` of NATIVE_CALLS."""
    return Part(part.endpoint, method, None, part.estimate, part.per_symbol, part.reads, part.fills,
                part.stamps, decode=decoded)


def _swap(kind: str, exchange_id: str, *methods: str) -> tuple[Part, ...]:
    return tuple(_native(part, method) for part, method in zip(PLANS[exchange_id][kind], methods, strict=True))


NATIVE_PLANS: Final[Mapping[str, Mapping[str, tuple[Part, ...]]]] = {
    binance.CCXT_ID: {
        "ticker": _swap("ticker", "binanceusdm", "binance_tickers", "binance_book_tickers",
                        "binance_mark_prices"),
        "funding_rate": _swap("funding_rate", "binanceusdm", "binance_funding_rates",
                              "binance_funding_intervals"),
        "open_interest": _swap("open_interest", "binanceusdm", "binance_open_interest"),
        "funding_settlement": _swap("funding_settlement", "binanceusdm", "binance_funding_history"),
    },
    bybit.CCXT_ID: {
        "ticker": _swap("ticker", "bybit", "bybit_tickers"),
        "funding_rate": _swap("funding_rate", "bybit", "bybit_funding_rates"),
        "open_interest": (),
        "funding_settlement": _swap("funding_settlement", "bybit", "bybit_funding_history"),
    },
    okx.CCXT_ID: {
        "ticker": _swap("ticker", "okx", "okx_tickers", "okx_mark_prices", "okx_index_prices",
                        "okx_open_interests"),
        "funding_rate": _swap("funding_rate", "okx", "okx_funding_rates"),
        "open_interest": (),
        "funding_settlement": _swap("funding_settlement", "okx", "okx_funding_history"),
    },
}
_BY_ENDPOINT: Final = {(exchange_id, kind, part.endpoint): part for exchange_id, kinds in NATIVE_PLANS.items()
                       for kind, parts in kinds.items() for part in parts}


def native_plan(exchange_id: str, kind: str, has: Mapping[str, Any]) -> tuple[Part, ...]:
    """plans.plan's parts (so `has`, ccxt_options' way to turn a method off, still chooses them),
    each replaced by its native twin; a part without one (a per-symbol fallback) stays ccxt's."""
    return tuple(_BY_ENDPOINT.get((exchange_id, kind, part.endpoint), part) for part in plan(exchange_id, kind, has))


# Open interest polled per symbol (binance) joins the tickers as decoded values.
OPEN_INTEREST_JOIN: Final = Part("open_interest", "fetch_open_interest", reads="open_interest",
                                 fills=("open_interest",), decode=decoded)
