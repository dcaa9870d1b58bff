"""Binance USD-M futures REST dialect (``/fapi/v1/...``), rows shaped like the recorded payloads.

Templates come from real responses: exchangeInfo (nautilus_trader recording), premiumIndex
(a live dump of 2024-11-27) and ticker/24hr (Binance's documented example).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from importlib import resources

from exchange_simulator.faults import Fault
from exchange_simulator.listing import SymbolSpec, settlements
from exchange_simulator.market import Quote
from exchange_simulator.replies import (
    LINEAR_OPTIONS,
    DialectBase,
    Reply,
    decimal,
    html_reply,
    json_reply,
    usdt_market_id,
)

NAME = "binanceusdm"
_TEMPLATES = json.loads(resources.files(__package__).joinpath("templates/binanceusdm.json").read_text())
_DAY_MS = 86_400_000
# ccxt's binance URL keys and the path each one carries on the real hosts.
_URL_PATHS = {
    "fapiPublic": "/fapi/v1", "fapiPublicV2": "/fapi/v2", "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1", "fapiPrivateV2": "/fapi/v2", "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data", "dapiPublic": "/dapi/v1", "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2", "dapiData": "/futures/data", "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1", "sapi": "/sapi/v1", "sapiV2": "/sapi/v2", "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4", "public": "/api/v3", "private": "/api/v3", "v1": "/api/v1",
    "papi": "/papi/v1", "papiV2": "/papi/v2",
}
PREFIXES = ("/fapi/", "/dapi/", "/sapi/", "/eapi/", "/papi/", "/futures/", "/api/v1/", "/api/v3/")
DELISTED_STATUS = "SETTLING"


def ccxt_options(url: str) -> dict:
    return {
        "urls": {"api": {key: url + path for key, path in _URL_PATHS.items()}},
        "options": copy.deepcopy(LINEAR_OPTIONS),
    }


market_id = usdt_market_id


class Dialect(DialectBase):
    name = NAME
    prefixes = PREFIXES
    options_for = staticmethod(ccxt_options)

    def is_signed(self, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        return "signature" in query or "X-MBX-APIKEY" in headers

    def handle(self, path: str, query: Mapping[str, str]) -> Reply:
        routes = {
            "/fapi/v1/ping": lambda: json_reply({}),
            "/fapi/v1/time": lambda: json_reply({"serverTime": self.state.now_ms()}),
            "/fapi/v1/exchangeInfo": self._exchange_info,
            "/fapi/v1/ticker/24hr": lambda: self._rows("ticker24hr", _ticker_row, query),
            "/fapi/v1/premiumIndex": lambda: self._rows("premiumIndex", _premium_row, query),
            "/fapi/v1/ticker/bookTicker": lambda: self._rows("bookTicker", _book_row, query),
            "/fapi/v1/openInterest": lambda: self._open_interest(query),
            "/fapi/v1/fundingInfo": self._funding_info,
            "/fapi/v1/fundingRate": lambda: self._funding_history(query),
        }
        route = routes.get(path)
        if route is None:
            return json_reply({"code": -5000, "msg": f"Path {path}, Method GET is invalid"}, 404)
        return route()

    def failure(self, fault: Fault) -> Reply:
        retry = {"Retry-After": str(max(1, round(fault.retry_after)))}
        if fault.kind == "http_429":
            msg = "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. Please use the websocket for live updates to avoid polling the API."
            return json_reply({"code": -1003, "msg": msg}, 429, retry)
        if fault.kind == "http_418":
            until = self.state.now_ms() + int(fault.retry_after * 1000)
            msg = f"Way too many requests; IP(127.0.0.1) banned until {until}. Please use the websocket for live updates to avoid bans."
            return json_reply({"code": -1003, "msg": msg}, 418, retry)
        if fault.kind == "http_5xx":
            msg = "Internal error; unable to process your request. Please try again."
            return json_reply({"code": -1001, "msg": msg}, fault.status)
        if fault.kind == "maintenance":
            return html_reply(503, "Service Unavailable")
        return self.auth_error()

    def auth_error(self) -> Reply:
        return json_reply({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, 401)

    # --- endpoints -----------------------------------------------------------------------
    def _exchange_info(self) -> Reply:
        symbols = self._cache.get("symbols", self._symbol_rows, listing=True)
        envelope = dict(_TEMPLATES["exchangeInfo"], serverTime=self.state.now_ms(), symbols=symbols)
        return json_reply(envelope)

    def _symbol_rows(self) -> list[dict]:
        return [self._symbol_row(spec) for spec in self.state.listed_specs()]

    def _symbol_row(self, spec: SymbolSpec) -> dict:
        row = copy.deepcopy(_TEMPLATES["symbol"])
        status = DELISTED_STATUS if self.state.is_delisted(spec.symbol) else "TRADING"
        row.update(symbol=market_id(spec.symbol), pair=market_id(spec.symbol), baseAsset=spec.base,
                   status=status, pricePrecision=spec.price_decimals)
        price_filter = next(f for f in row["filters"] if f["filterType"] == "PRICE_FILTER")
        price_filter.update(
            tickSize=decimal(spec.tick_size, spec.price_decimals),
            minPrice=decimal(spec.tick_size, spec.price_decimals),
            maxPrice=decimal(spec.initial_price * 100, spec.price_decimals),
        )
        return row

    def _rows(self, kind: str, build_row, query: Mapping[str, str]) -> Reply:
        def build() -> tuple[bytes, dict[str, dict]]:
            rows = {market_id(q.symbol): build_row(q, self._decimals(q)) for q in self.state.snapshot().values()}
            return json.dumps(list(rows.values()), separators=(",", ":")).encode(), rows

        body, rows = self._cache.get(kind, build)
        if "symbol" not in query:
            return Reply(200, body)
        row = rows.get(query["symbol"])
        if row is None:
            return json_reply({"code": -1121, "msg": "Invalid symbol."}, 400)
        return json_reply(row)

    def _open_interest(self, query: Mapping[str, str]) -> Reply:
        quotes = {market_id(q.symbol): q for q in self.state.snapshot().values()}
        quote = quotes.get(query.get("symbol", ""))
        if quote is None:
            return json_reply({"code": -1121, "msg": "Invalid symbol."}, 400)
        return json_reply({"symbol": market_id(quote.symbol),
                           "openInterest": decimal(quote.open_interest, 3), "time": quote.ts})

    def _funding_info(self) -> Reply:
        """Like binance: only the symbols whose interval differs from the default 8 h are listed."""
        rows = [dict(_TEMPLATES["fundingInfo"], symbol=market_id(s.symbol),
                     fundingIntervalHours=s.funding_interval_hours)
                for s in self.state.listed_specs() if s.funding_interval_hours != 8]
        return json_reply(rows)

    def _funding_history(self, query: Mapping[str, str]) -> Reply:
        """Settlements from `startTime` on (oldest first, `limit` of them, default 100, at most
        1000); without `startTime` the most recent ones."""
        spec = next((s for s in self.state.specs if market_id(s.symbol) == query.get("symbol")), None)
        if spec is None:
            return json_reply({"code": -1121, "msg": "Invalid symbol."}, 400)
        limit = min(1000, max(1, int(query.get("limit", 100))))
        now = self.state.now_ms()
        end = min(now, int(query.get("endTime", now)))
        start = int(query.get("startTime", end - limit * spec.funding_interval_hours * 3_600_000))
        rows = [{"symbol": market_id(spec.symbol), "fundingTime": t, "fundingRate": decimal(rate, 8),
                 "markPrice": decimal(mark, 8)} for t, rate, mark in settlements(spec, start, end)]
        return json_reply(rows[:limit] if "startTime" in query else rows[-limit:])

    def _decimals(self, quote: Quote) -> int:
        return self._spec_decimals()[quote.symbol]

    def _spec_decimals(self) -> dict[str, int]:
        return self._cache.get("decimals", lambda: {s.symbol: s.price_decimals for s in self.state.specs}, listing=True)


def _ticker_row(q: Quote, d: int) -> dict:
    change = round(q.last - q.open_24h, d)
    return dict(
        _TEMPLATES["ticker24hr"],
        symbol=market_id(q.symbol),
        priceChange=decimal(change, d),
        priceChangePercent=decimal(change / q.open_24h * 100, 3),
        weightedAvgPrice=decimal(q.quote_volume / q.base_volume, d),
        lastPrice=decimal(q.last, d),
        lastQty=decimal(1.0, 3),
        openPrice=decimal(q.open_24h, d),
        highPrice=decimal(q.high_24h, d),
        lowPrice=decimal(q.low_24h, d),
        volume=decimal(q.base_volume, 3),
        quoteVolume=decimal(q.quote_volume, 4),
        openTime=q.ts - _DAY_MS,
        closeTime=q.last_trade_ts,
        firstId=q.ts // 1000,
        lastId=q.ts // 1000 + int(q.base_volume),
        count=int(q.base_volume) + 1,
    )


def _premium_row(q: Quote, d: int) -> dict:
    return dict(
        _TEMPLATES["premiumIndex"],
        symbol=market_id(q.symbol),
        markPrice=decimal(q.mark, 8),
        indexPrice=decimal(q.index, 8),
        estimatedSettlePrice=decimal(q.index, 8),
        lastFundingRate=decimal(q.funding_rate, 8),
        interestRate=decimal(q.interest_rate, 8),
        nextFundingTime=q.next_funding_time,
        time=q.ts,
    )


def _book_row(q: Quote, d: int) -> dict:
    return {"symbol": market_id(q.symbol), "bidPrice": decimal(q.bid, d), "bidQty": "1.000",
            "askPrice": decimal(q.ask, d), "askQty": "1.000", "time": q.ts}
