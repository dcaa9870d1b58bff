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

from exchange_simulator import binanceusdm, bybit, okx, ws_render
from exchange_simulator.market import MarketState, Quote

Topic = tuple[str, str]


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
        self._ids = {s.symbol: self.market_id(s.symbol) for s in state.specs}
        self._by_id = {market: symbol for symbol, market in self._ids.items()}
        self._rendered: dict[Topic, tuple] = {}  # per topic: the quote(s) last rendered, the frame

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

    def frames(self, quotes: Mapping[str, Quote], topics: Iterable[Topic],
               previous: Mapping[str, Quote]) -> list[bytes]:
        """One tick of `topics` as the frames' UTF-8 text; `previous` is what this connection was
        last sent per symbol (deltas). A topic's frame is rendered once per quote and the same
        bytes go to every session that pushes it (replicas, several clients)."""
        frames = []
        rendered = self._rendered
        for topic in topics:
            quote = quotes.get(topic[1])
            if quote is None:
                continue
            kept = rendered.get(topic)
            if kept is None or kept[0] is not quote:
                kept = rendered[topic] = (quote, self.frame(topic[0], quote, None).encode())
            frames.append(kept[1])
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
        market = self._ids[q.symbol]
        if channel == "markPrice":
            return ws_render.binance_mark(market, q)
        if channel == "bookTicker":
            return ws_render.binance_book(market, q, self._decimals[q.symbol])
        return ws_render.binance_ticker(market, q, self._decimals[q.symbol])

class BybitWs(WsDialect):
    """`{op: subscribe, req_id, args: [tickers.BTCUSDT]}` → `{success: true, op: subscribe, req_id}`;
    `{op: ping}` → `ret_msg: pong`; a snapshot per topic first, then deltas of the changed fields."""

    name = bybit.NAME
    path = "/v5/public/linear"

    def __init__(self, state: MarketState, cadence: Mapping[str, float] | None = None) -> None:
        super().__init__(state, cadence)
        self._rows: dict[str, tuple[tuple[Quote, tuple[str, ...]], ...]] = {}

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

    def frames(self, quotes: Mapping[str, Quote], topics: Iterable[Topic],
               previous: Mapping[str, Quote]) -> list[bytes]:
        """As `WsDialect.frames`, a frame per quote and the quote it follows (deltas)."""
        frames = []
        for topic in topics:
            quote = quotes.get(topic[1])
            if quote is None:
                continue
            before = previous.get(topic[1])
            kept = self._rendered.get(topic)
            if kept is None or kept[0] is not quote or kept[1] is not before:
                frame = self.frame(topic[0], quote, before).encode()
                kept = self._rendered[topic] = (quote, before, frame)
            frames.append(kept[2])
        return frames

    def frame(self, channel: str, q: Quote, previous: Quote | None) -> str:
        return ws_render.bybit_frame(self._values(q), self._values(previous) if previous else None, q.ts)

    def _values(self, q: Quote) -> tuple[str, ...]:
        """The row's values for `q`, kept for the latest two quotes of its symbol (deltas)."""
        kept = self._rows.get(q.symbol, ())
        for quote, values in kept:
            if quote is q:
                return values
        values = ws_render.bybit_values(self._ids[q.symbol], q, self._decimals[q.symbol])
        self._rows[q.symbol] = ((q, values), *kept[:1])
        return values

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
        d, inst = self._decimals[q.symbol], self._ids[q.symbol]
        if channel == "tickers":
            return ws_render.okx_ticker(inst, q, d)
        if channel == "mark-price":
            return ws_render.okx_mark(inst, q, d)
        return _dumps({"arg": {"channel": channel, "instId": inst}, "data": [okx.funding_row(q, d)]})


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


