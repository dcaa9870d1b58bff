"""Bybit v5 REST dialect for linear perpetuals (``/v5/market/...``).

Templates are the real rows of ccxt's recorded bybit responses (instruments-info linear and
the tickers row of 2024-11-04). Real rows carry no ``timestamp``; ccxt's fetchFundingRates
copies the envelope's ``time`` into each row, so that is the funding record's timestamp.
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
    trimmed,
    usdt_market_id,
)

NAME = "bybit"
_TEMPLATES = json.loads(resources.files(__package__).joinpath("templates/bybit.json").read_text())
PREFIXES = ("/v5/",)
DELISTED_STATUS = "Closed"
_DEFAULT_PAGE = 500


def ccxt_options(url: str) -> dict:
    keys = ("spot", "futures", "v2", "public", "private")
    return {
        "urls": {"api": {key: url for key in keys}},
        "options": copy.deepcopy(LINEAR_OPTIONS),
    }


market_id = usdt_market_id


class Dialect(DialectBase):
    name = NAME
    prefixes = PREFIXES
    options_for = staticmethod(ccxt_options)

    def is_signed(self, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        return "X-BAPI-API-KEY" in headers or "X-BAPI-SIGN" in headers

    def handle(self, path: str, query: Mapping[str, str]) -> Reply:
        if path == "/v5/market/time":
            return self._time()
        if path == "/v5/market/instruments-info":
            return self._instruments(query)
        if path == "/v5/market/tickers":
            return self._tickers(query)
        if path == "/v5/market/funding/history":
            return self._funding_history(query)
        return Reply(404, b"404 page not found", "text/plain")

    def failure(self, fault: Fault) -> Reply:
        retry = {"Retry-After": str(max(1, round(fault.retry_after))),
                 "X-Bapi-Limit-Reset-Timestamp": str(self.state.now_ms() + int(fault.retry_after * 1000))}
        if fault.kind in ("http_429", "http_418"):
            status = 429 if fault.kind == "http_429" else 418
            return self._envelope_error(10006, "Too many visits. Exceeded the API Rate Limit.", status, retry)
        if fault.kind == "http_5xx":
            return self._envelope_error(10016, "Internal System Error.", fault.status)
        if fault.kind == "maintenance":
            return html_reply(503, "Service Temporarily Unavailable")
        return self.auth_error()

    def auth_error(self) -> Reply:
        return self._envelope_error(10003, "API key is invalid.", 401)

    # --- endpoints -----------------------------------------------------------------------
    def _envelope(self, result: object, time_ms: int | None = None) -> dict:
        time_ms = self.state.now_ms() if time_ms is None else time_ms
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": time_ms}

    def _envelope_error(self, code: int, message: str, status: int = 200, headers=None) -> Reply:
        body = {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": self.state.now_ms()}
        return json_reply(body, status, headers)

    def _time(self) -> Reply:
        now = self.state.now_ms()
        result = {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
        return json_reply(self._envelope(result, now))

    def _instruments(self, query: Mapping[str, str]) -> Reply:
        category = query.get("category", "")
        if category not in ("linear", "inverse", "spot", "option"):
            return self._envelope_error(10001, "params error: Category is invalid")
        rows: list[dict] = []
        if category == "linear" and query.get("status", "Trading") != "PreLaunch":
            rows = self._cache.get("instruments", self._instrument_rows, listing=True)
        if "symbol" in query:
            rows = [r for r in rows if r["symbol"] == query["symbol"]]
        limit = min(1000, max(1, int(query.get("limit", _DEFAULT_PAGE))))
        start = _cursor_offset(query.get("cursor", ""))
        page = rows[start:start + limit]
        cursor = f"{start + limit}%2C{start + limit}" if start + limit < len(rows) else ""
        result = {"category": category, "list": page, "nextPageCursor": cursor}
        return json_reply(self._envelope(result))

    def _instrument_rows(self) -> list[dict]:
        return [self._instrument_row(spec) for spec in self.state.listed_specs()]

    def _instrument_row(self, spec: SymbolSpec) -> dict:
        row = copy.deepcopy(_TEMPLATES["instrument"])
        status = DELISTED_STATUS if self.state.is_delisted(spec.symbol) else "Trading"
        row.update(symbol=market_id(spec.symbol), baseCoin=spec.base, status=status,
                   priceScale=str(spec.price_decimals),
                   fundingInterval=str(spec.funding_interval_hours * 60))
        row["priceFilter"].update(
            minPrice=decimal(spec.tick_size, spec.price_decimals),
            maxPrice=decimal(spec.initial_price * 100, spec.price_decimals),
            tickSize=decimal(spec.tick_size, spec.price_decimals),
        )
        return row

    def _tickers(self, query: Mapping[str, str]) -> Reply:
        category = query.get("category", "")
        if category != "linear":
            if category in ("inverse", "spot", "option"):
                return json_reply(self._envelope({"category": category, "list": []}))
            return self._envelope_error(10001, "params error: Category is invalid")
        body, rows = self._cache.get("tickers", self._build_tickers)
        if "symbol" not in query:
            return Reply(200, body)
        row = rows.get(query["symbol"])
        if row is None:
            return self._envelope_error(10001, "Not supported symbols")
        return json_reply(self._envelope({"category": "linear", "list": [row]}, self.state.ts))

    def _build_tickers(self) -> tuple[bytes, dict[str, dict]]:
        decimals = {s.symbol: s.price_decimals for s in self.state.specs}
        rows = {market_id(q.symbol): ticker_row(q, decimals[q.symbol]) for q in self.state.snapshot().values()}
        envelope = self._envelope({"category": "linear", "list": list(rows.values())}, self.state.ts)
        return json.dumps(envelope, separators=(",", ":")).encode(), rows


    def _funding_history(self, query: Mapping[str, str]) -> Reply:
        """Settlements in startTime..endTime, newest first, `limit` (default 200) of them."""
        spec = next((s for s in self.state.specs if market_id(s.symbol) == query.get("symbol")), None)
        if query.get("category") != "linear" or spec is None:
            return self._envelope_error(10001, "params error: symbol invalid")
        limit = min(200, max(1, int(query.get("limit", 200))))
        end = min(self.state.now_ms(), int(query.get("endTime", self.state.now_ms())))
        start = int(query.get("startTime", end - limit * spec.funding_interval_hours * 3_600_000))
        rows = [{"symbol": market_id(spec.symbol), "fundingRate": trimmed(rate),
                 "fundingRateTimestamp": str(t)} for t, rate, _ in settlements(spec, start, end)]
        rows = rows[:limit][::-1]
        return json_reply(self._envelope({"category": "linear", "list": rows}))


def _cursor_offset(cursor: str) -> int:
    head = cursor.replace("%2C", ",").split(",")[0]
    return int(head) if head.isdigit() else 0


def ticker_row(q: Quote, d: int) -> dict:
    return dict(
        _TEMPLATES["ticker"],
        symbol=market_id(q.symbol),
        lastPrice=decimal(q.last, d),
        indexPrice=decimal(q.index, d),
        markPrice=decimal(q.mark, d),
        prevPrice24h=decimal(q.open_24h, d),
        price24hPcnt=decimal((q.last - q.open_24h) / q.open_24h, 6),
        highPrice24h=decimal(q.high_24h, d),
        lowPrice24h=decimal(q.low_24h, d),
        prevPrice1h=decimal(q.open_24h, d),
        openInterest=decimal(q.open_interest, 3),
        openInterestValue=decimal(q.open_interest * q.mark, 2),
        turnover24h=decimal(q.quote_volume, 4),
        volume24h=decimal(q.base_volume, 3),
        fundingRate=trimmed(q.funding_rate),
        nextFundingTime=str(q.next_funding_time),
        ask1Size="1.000",
        bid1Price=decimal(q.bid, d),
        ask1Price=decimal(q.ask, d),
        bid1Size="1.000",
    )
