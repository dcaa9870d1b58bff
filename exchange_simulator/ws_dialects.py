"""The three websocket dialects as ccxt pro speaks them: subscribe requests, acks, pings and the
data frames built from the same ticks the REST side serves.

A dialect is a small class: `subscribe(request)` turns a client request into the topics it names
(or an error frame), `pong(text)` answers an application-level ping, `frames(...)` renders one
tick of the subscribed topics. Topics are `(channel, unified symbol)` pairs.

`cadence` is how often the venue pushes a channel, in seconds (the venues' documented update
speeds; a channel not named is pushed with every market tick, as a book ticker or bybit's 100 ms
tickers are). A topic's first frame follows its subscription at once, as on the venues.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from exchange_simulator import binanceusdm, bybit, okx
from exchange_simulator.market import MarketState, Quote
from exchange_simulator.replies import decimal

Topic = tuple[str, str]
_DAY_MS = 86_400_000


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


class Subscription:
    """What one subscribe request asked for: the topics, the ack frames, or a rejection."""

    def __init__(self, topics: list[Topic], acks: list[str], unknown: list[str]) -> None:
        self.topics = topics
        self.acks = acks
        self.unknown = unknown


class WsDialect:
    name: str
    path: str
    paths: tuple[str, ...] = ()  # more routes to the same dialect (binance's raw endpoints)
    cadence: Mapping[str, float] = {}  # wire channel -> seconds between pushes (else every tick)

    def __init__(self, state: MarketState, cadence: Mapping[str, float] | None = None) -> None:
        self.state = state
        self.cadence = {**type(self).cadence, **(cadence or {})}
        self._decimals = {s.symbol: s.price_decimals for s in state.specs}
        self._by_id = {self.market_id(s.symbol): s.symbol for s in state.specs}

    def market_id(self, symbol: str) -> str:
        raise NotImplementedError

    def symbol_of(self, market_id: str) -> str | None:
        return self._by_id.get(market_id)

    def subscribe(self, request: Mapping) -> Subscription | None:
        raise NotImplementedError

    def reject(self, request: Mapping) -> str:
        raise NotImplementedError

    def pong(self, text: str) -> str | None:
        """The answer to an application-level ping frame (None: not a ping)."""
        return None

    def frames(self, quotes: Mapping[str, Quote], topics: Iterable[Topic], previous: Mapping[str, Quote] | None) -> list[str]:
        """One tick of `topics`; `previous` is the tick this connection was last sent (deltas)."""
        frames = []
        for channel, symbol in topics:
            quote = quotes.get(symbol)
            if quote is not None:
                frames.append(self.frame(channel, quote, previous.get(symbol) if previous else None))
        return frames

    def frame(self, channel: str, quote: Quote, previous: Quote | None) -> str:
        raise NotImplementedError


class BinanceWs(WsDialect):
    """`{method: SUBSCRIBE, params: [btcusdt@ticker, btcusdt@bookTicker, btcusdt@markPrice@1s], id}`
    → `{result: null, id}`; protocol-level pings (aiohttp answers them); one event object per
    stream and tick (binance futures: the 24hrTicker has no bid/ask, the bookTicker has them)."""

    name = binanceusdm.NAME
    path = "/fstream/{category:market|public}/ws/{stream}"  # bookTicker on /public, the rest /market
    paths = ("/fstream/{category:market|public}/ws",)  # the raw endpoint with no stream in its path (native)
    # USD-M futures: <symbol>@ticker every 500 ms, @markPrice@1s every second, @bookTicker real time.
    cadence = {"ticker": 0.5, "markPrice": 1.0}

    def market_id(self, symbol: str) -> str:
        return binanceusdm.market_id(symbol)

    def subscribe(self, request: Mapping) -> Subscription | None:
        if request.get("method") != "SUBSCRIBE":
            return None
        topics, unknown = [], []
        for stream in request.get("params") or []:
            market, _, channel = str(stream).partition("@")
            symbol = self.symbol_of(market.upper())
            channel = channel.split("@")[0]
            if symbol is None or channel not in ("ticker", "bookTicker", "markPrice"):
                unknown.append(str(stream))
            else:
                topics.append((channel, symbol))
        return Subscription(topics, [_dumps({"result": None, "id": request.get("id")})], unknown)

    def reject(self, request: Mapping) -> str:
        return _dumps({"error": {"code": -1121, "msg": "Invalid symbol."}, "id": request.get("id")})

    def frame(self, channel: str, q: Quote, previous: Quote | None) -> str:
        market = self.market_id(q.symbol)
        if channel == "markPrice":
            return _dumps({"e": "markPriceUpdate", "E": q.ts, "s": market, "p": decimal(q.mark, 8),
                           "i": decimal(q.index, 8), "P": decimal(q.index, 8),
                           "r": decimal(q.funding_rate, 8), "T": q.next_funding_time})
        d = self._decimals[q.symbol]
        if channel == "bookTicker":
            return _dumps({"e": "bookTicker", "u": q.ts, "s": market, "b": decimal(q.bid, d), "B": "1.000",
                           "a": decimal(q.ask, d), "A": "1.000", "T": q.ts, "E": q.ts})
        change = round(q.last - q.open_24h, d)
        return _dumps({
            "e": "24hrTicker", "E": q.ts, "s": market, "p": decimal(change, d),
            "P": decimal(change / q.open_24h * 100, 3), "w": decimal(q.quote_volume / q.base_volume, d),
            "c": decimal(q.last, d), "Q": "1.000", "o": decimal(q.open_24h, d), "h": decimal(q.high_24h, d),
            "l": decimal(q.low_24h, d), "v": decimal(q.base_volume, 3), "q": decimal(q.quote_volume, 4),
            "O": q.ts - _DAY_MS, "C": q.ts, "F": q.ts // 1000, "L": q.ts // 1000 + int(q.base_volume),
            "n": int(q.base_volume) + 1,
        })


class BybitWs(WsDialect):
    """`{op: subscribe, req_id, args: [tickers.BTCUSDT]}` → `{success: true, op: subscribe, req_id}`;
    `{op: ping}` → `ret_msg: pong`; a snapshot per topic first, then deltas of the changed fields."""

    name = bybit.NAME
    path = "/v5/public/linear"

    def market_id(self, symbol: str) -> str:
        return bybit.market_id(symbol)

    def subscribe(self, request: Mapping) -> Subscription | None:
        if request.get("op") != "subscribe":
            return None
        topics, unknown = [], []
        for arg in request.get("args") or []:
            channel, _, market = str(arg).partition(".")
            symbol = self.symbol_of(market)
            if channel != "tickers" or symbol is None:
                unknown.append(str(arg))
            else:
                topics.append(("tickers", symbol))
        ack = {"success": True, "ret_msg": "", "conn_id": "sim", "req_id": request.get("req_id"), "op": "subscribe"}
        return Subscription(topics, [_dumps(ack)], unknown)

    def reject(self, request: Mapping) -> str:
        return _dumps({"success": False, "ret_msg": "error:handler not found", "conn_id": "sim",
                       "req_id": request.get("req_id"), "op": "subscribe"})

    def pong(self, text: str) -> str | None:
        if '"ping"' not in text:
            return None
        request = json.loads(text)
        return _dumps({"success": True, "ret_msg": "pong", "conn_id": "sim",
                       "req_id": request.get("req_id"), "op": "ping"})

    def frame(self, channel: str, q: Quote, previous: Quote | None) -> str:
        d = self._decimals[q.symbol]
        row = bybit.ticker_row(q, d)
        kind = "snapshot"
        if previous is not None:
            old = bybit.ticker_row(previous, d)
            row = {k: v for k, v in row.items() if k == "symbol" or old.get(k) != v}
            kind = "delta"
        return _dumps({"topic": f"tickers.{row['symbol']}", "type": kind, "data": row,
                       "cs": q.ts, "ts": q.ts})


class OkxWs(WsDialect):
    """`{op: subscribe, args: [{channel, instId}]}` → one `{event: subscribe, arg}` per arg;
    text `ping` → `pong`; `{arg, data: [row]}` per channel and tick (`tickers`, `mark-price`:
    {instType, instId, markPx, ts}, `funding-rate`)."""

    name = okx.NAME
    path = "/ws/v5/public"
    # tickers at most every 100 ms; mark-price every 200 ms while it moves; funding-rate every 30-90 s.
    cadence = {"mark-price": 0.2, "funding-rate": 30.0}
    _CHANNELS = ("tickers", "mark-price", "funding-rate")

    def market_id(self, symbol: str) -> str:
        return okx.inst_id(symbol)

    def subscribe(self, request: Mapping) -> Subscription | None:
        if request.get("op") != "subscribe":
            return None
        topics, unknown, acks = [], [], []
        for arg in request.get("args") or []:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            symbol = self.symbol_of(arg.get("instId", "")) if isinstance(arg, dict) else None
            if channel not in self._CHANNELS or symbol is None:
                unknown.append(_dumps(arg))
                continue
            topics.append((channel, symbol))
            acks.append(_dumps({"event": "subscribe", "arg": arg, "connId": "sim"}))
        return Subscription(topics, acks, unknown)

    def reject(self, request: Mapping) -> str:
        return _dumps({"event": "error", "code": "60018", "connId": "sim",
                       "msg": "Wrong URL or channel doesn't exist."})

    def pong(self, text: str) -> str | None:
        return "pong" if text == "ping" else None

    def frame(self, channel: str, q: Quote, previous: Quote | None) -> str:
        d = self._decimals[q.symbol]
        rows = {"tickers": okx.ticker_row, "mark-price": okx.mark_row, "funding-rate": okx.funding_row}
        row = rows[channel](q, d)
        return _dumps({"arg": {"channel": channel, "instId": self.market_id(q.symbol)}, "data": [row]})


WS_DIALECTS: Mapping[str, type[WsDialect]] = {
    BinanceWs.name: BinanceWs, BybitWs.name: BybitWs, OkxWs.name: OkxWs,
}


def ws_urls(exchange: str, url: str) -> dict:
    """The `urls.api.ws` block that points ccxt pro's `exchange` at a simulator at `url`. The
    http:// URL itself: aiohttp opens a websocket on it too, so config/simulator.yaml moves REST
    and websockets with one variable."""
    base = url
    if exchange == binanceusdm.NAME:
        return {"linear": f"{base}/fstream/ws"}  # ccxt pro inserts /market (/public for bookTicker) and appends /<n>
    if exchange == bybit.NAME:
        return {"public": {"linear": base + BybitWs.path}}
    return base + "/ws/v5"  # okx: ccxt pro appends /public


