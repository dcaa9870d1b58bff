"""OKX v5 REST dialect for USDT-margined perpetual swaps (``/api/v5/...``).

Templates: the real ETH-USDT-SWAP instrument row (nautilus_trader recording; the recorded
BTC-USD-SWAP row is inverse and so not used), the documented tickers row, and the funding-rate
row of OKX's docs example. ``fundingTime`` is the upcoming settlement, ``nextFundingTime`` the
one after it; ccxt reports ``fundingTime`` as ``fundingTimestamp``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from importlib import resources

from exchange_simulator.faults import Fault
from exchange_simulator.listing import HOUR_MS, SymbolSpec, hash_int, settlements
from exchange_simulator.market import Quote
from exchange_simulator.replies import DialectBase, Reply, decimal, json_reply, trimmed

NAME = "okx"
_TEMPLATES = json.loads(resources.files(__package__).joinpath("templates/okx.json").read_text())
PREFIXES = ("/api/v5/",)
DELISTED_STATE = "suspend"
_CONTRACT_VALUES = {"BTC": 0.01, "ETH": 0.1}


def ccxt_options(url: str) -> dict:
    return {
        "urls": {"api": {"rest": url}},
        "options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}},
    }


def inst_id(symbol: str) -> str:
    return symbol.split("/")[0] + "-USDT-SWAP"


def contract_value(base: str) -> float:
    """Base currency per contract (``ctVal``); ccxt's okx baseVolume counts contracts."""
    return _CONTRACT_VALUES.get(base, 1.0)


def _error(code: str, message: str, status: int = 200, headers=None) -> Reply:
    return json_reply({"code": code, "data": [], "msg": message}, status, headers)


class Dialect(DialectBase):
    name = NAME
    prefixes = PREFIXES
    options_for = staticmethod(ccxt_options)

    def is_signed(self, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        return "OK-ACCESS-KEY" in headers or "OK-ACCESS-SIGN" in headers

    def handle(self, path: str, query: Mapping[str, str]) -> Reply:
        if path == "/api/v5/public/time":
            return json_reply({"code": "0", "data": [{"ts": str(self.state.now_ms())}], "msg": ""})
        if path == "/api/v5/public/instruments":
            return self._instruments(query)
        if path == "/api/v5/market/tickers":
            return self._bulk(query, "tickers", ticker_row)
        if path == "/api/v5/market/ticker":
            return self._single(query, "tickers", ticker_row)
        if path == "/api/v5/public/mark-price":
            return self._bulk(query, "mark_prices", mark_row)
        if path == "/api/v5/public/open-interest":
            return self._bulk(query, "open_interest", _open_interest_row)
        if path == "/api/v5/market/index-tickers":
            return self._index_tickers(query)
        if path == "/api/v5/public/funding-rate-history":
            return self._funding_history(query)
        if path == "/api/v5/public/funding-rate":
            if query.get("instId") == "ANY":
                return self._bulk({"instType": "SWAP"}, "funding", funding_row)
            return self._single(query, "funding", funding_row)
        return json_reply({"msg": "Not Found", "code": "404"}, 404)

    def failure(self, fault: Fault) -> Reply:
        retry = {"Retry-After": str(max(1, round(fault.retry_after)))}
        if fault.kind in ("http_429", "http_418"):
            return _error("50011", "Too Many Requests", 429 if fault.kind == "http_429" else 418, retry)
        if fault.kind == "http_5xx":
            return _error("50026", "System error, please try again later.", fault.status)
        if fault.kind == "maintenance":
            return _error("50001", "Service temporarily unavailable, please try again later.", 503)
        return self.auth_error()

    def auth_error(self) -> Reply:
        return _error("50111", "Invalid OK-ACCESS-KEY", 401)

    # --- endpoints -----------------------------------------------------------------------
    def _instruments(self, query: Mapping[str, str]) -> Reply:
        inst_type = query.get("instType")
        if inst_type is None:
            return _error("50014", "Parameter instType can not be empty.", 400)
        rows = self._cache.get("instruments", self._instrument_rows, listing=True) if inst_type == "SWAP" else []
        if "instId" in query:
            rows = [r for r in rows if r["instId"] == query["instId"]]
        return json_reply({"code": "0", "data": rows, "msg": ""})

    def _instrument_rows(self) -> list[dict]:
        return [self._instrument_row(spec) for spec in self.state.listed_specs()]

    def _instrument_row(self, spec: SymbolSpec) -> dict:
        row = copy.deepcopy(_TEMPLATES["instrument"])
        state = DELISTED_STATE if self.state.is_delisted(spec.symbol) else "live"
        family = f"{spec.base}-USDT"
        row.update(instId=inst_id(spec.symbol), instFamily=family, uly=family, ctValCcy=spec.base,
                   ctVal=trimmed(contract_value(spec.base)), state=state,
                   tickSz=trimmed(spec.tick_size, spec.price_decimals),
                   instIdCode=10000 + hash_int(spec.base, 0) % 1_000_000)
        return row

    def _rows(self, kind: str, build_row) -> tuple[bytes, dict[str, dict]]:
        def build() -> tuple[bytes, dict[str, dict]]:
            decimals = {s.symbol: s.price_decimals for s in self.state.specs}
            rows = {inst_id(q.symbol): build_row(q, decimals[q.symbol]) for q in self.state.snapshot().values()}
            body = {"code": "0", "data": list(rows.values()), "msg": ""}
            return json.dumps(body, separators=(",", ":")).encode(), rows

        return self._cache.get(kind, build)

    def _bulk(self, query: Mapping[str, str], kind: str, build_row) -> Reply:
        if query.get("instType") != "SWAP":
            if query.get("instType") in ("SPOT", "FUTURES", "OPTION", "MARGIN"):
                return json_reply({"code": "0", "data": [], "msg": ""})
            return _error("50014", "Parameter instType can not be empty.", 400)
        body, _ = self._rows(kind, build_row)
        return Reply(200, body)

    def _single(self, query: Mapping[str, str], kind: str, build_row) -> Reply:
        _, rows = self._rows(kind, build_row)
        row = rows.get(query.get("instId", ""))
        if row is None:
            return _error("51001", "Instrument ID or Spread ID doesn't exist.")
        return json_reply({"code": "0", "data": [row], "msg": ""})


    def _index_tickers(self, query: Mapping[str, str]) -> Reply:
        if query.get("quoteCcy") != "USDT" and "instId" not in query:
            return _error("50014", "Parameter quoteCcy or instId can not be empty.", 400)
        body, _ = self._rows("index_tickers", _index_row)
        return Reply(200, body)

    def _funding_history(self, query: Mapping[str, str]) -> Reply:
        """Settlements newer than `before` (the `limit`, default 100, closest to it), or older
        than `after`, or the latest; newest first, as okx returns them."""
        spec = next((s for s in self.state.specs if inst_id(s.symbol) == query.get("instId")), None)
        if spec is None:
            return _error("51001", "Instrument ID or Spread ID doesn't exist.")
        limit = min(100, max(1, int(query.get("limit", 100))))
        span = limit * spec.funding_interval_hours * 3_600_000
        now = self.state.now_ms()
        if "before" in query:
            rows = settlements(spec, int(query["before"]) + 1, now)[:limit]
        else:
            end = int(query["after"]) - 1 if "after" in query else now
            rows = settlements(spec, end - span, end)[-limit:]
        data = [dict(_TEMPLATES["funding_history"], instId=inst_id(spec.symbol),
                     fundingRate=trimmed(rate, 16), realizedRate=trimmed(rate, 16), fundingTime=str(t))
                for t, rate, _ in reversed(rows)]
        return json_reply({"code": "0", "data": data, "msg": ""})


def mark_row(q: Quote, d: int) -> dict:
    return {"instType": "SWAP", "instId": inst_id(q.symbol), "markPx": decimal(q.mark, d), "ts": str(q.ts)}


def _open_interest_row(q: Quote, d: int) -> dict:
    contracts = q.open_interest / contract_value(q.symbol.split("/")[0])
    return {"instType": "SWAP", "instId": inst_id(q.symbol), "oi": decimal(contracts, 1),
            "oiCcy": decimal(q.open_interest, 3), "oiUsd": decimal(q.open_interest * q.mark, 2),
            "ts": str(q.ts)}


def _index_row(q: Quote, d: int) -> dict:
    index = decimal(q.index, d)
    return dict(_TEMPLATES["index_ticker"], instId=q.symbol.split("/")[0] + "-USDT", idxPx=index,
                high24h=index, sodUtc0=index, open24h=index, low24h=index, sodUtc8=index, ts=str(q.ts))


def ticker_row(q: Quote, d: int) -> dict:
    contracts = q.base_volume / contract_value(q.symbol.split("/")[0])
    return dict(
        _TEMPLATES["ticker"],
        instId=inst_id(q.symbol),
        last=decimal(q.last, d),
        lastSz="1",
        askPx=decimal(q.ask, d),
        askSz="10",
        bidPx=decimal(q.bid, d),
        bidSz="10",
        open24h=decimal(q.open_24h, d),
        high24h=decimal(q.high_24h, d),
        low24h=decimal(q.low_24h, d),
        volCcy24h=decimal(q.base_volume, 3),
        vol24h=decimal(contracts, 1),
        sodUtc0=decimal(q.open_24h, d),
        sodUtc8=decimal(q.open_24h, d),
        ts=str(q.ts),
    )


def funding_row(q: Quote, d: int) -> dict:
    return dict(
        _TEMPLATES["funding_rate"],
        fundingRate=trimmed(q.funding_rate, 16),
        fundingTime=str(q.next_funding_time),
        instId=inst_id(q.symbol),
        nextFundingTime=str(q.next_funding_time + q.funding_interval_hours * HOUR_MS),
        nextFundingRate=trimmed(q.predicted_funding_rate, 16),
        premium=trimmed((q.mark - q.index) / q.index, 16),
        settFundingRate=trimmed(q.settled_funding_rate, 16),
        ts=str(q.ts),
    )
