"""The three websocket dialects as ccxt pro speaks them: subscribe requests, acks, pings and the
data frames built from the same ticks the REST side serves.

A dialect is a small class: `subscribe(request)` turns a client request into the topics it names
(or an error frame), `pong(text)` answers an application-level ping, `frames(...)` picks one
tick's frames of the subscribed topics. Topics are `(channel, unified symbol)` pairs. A channel's
frames are rendered for every symbol at once (ws_render.py), the first time a connection pushes
the channel in a tick, and the same bytes go to every connection that pushes them in that tick.

`cadence` is how often the venue pushes a channel, in seconds (the venues' documented update
speeds; a channel not named is pushed with every market tick, as a book ticker or bybit's 100 ms
tickers are). A topic's first frame follows its subscription at once, as on the venues.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable, Mapping, MutableMapping

from exchange_simulator import binanceusdm, bybit, okx, ws_render
from exchange_simulator.market import MarketState, Tick
from exchange_simulator.quotes import Columns

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
        self._decimals = [s.price_decimals for s in state.specs]  # per column of a tick
        self._prices = [f".{d}f" for d in self._decimals]
        self._ids = [self.market_id(s.symbol) for s in state.specs]
        self._by_id = {market: s.symbol for s, market in zip(state.specs, self._ids, strict=True)}
        self._serial = -1  # the tick whose frames `_rendered` holds
        self._columns: Columns | None = None
        self._rendered: dict[str, list] = {}  # channel -> that tick's frame per column

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

    def frames(self, tick: Tick, topics: Iterable[Topic], sent: MutableMapping[str, Tick]) -> list[bytes]:
        """The frames of `topics` in `tick` (UTF-8 text) for one connection; `sent` is the tick
        this connection was last sent per symbol (bybit's deltas), updated here."""
        frames = []
        rendered, index = self.rendered(tick), tick.index
        for channel, symbol in topics:
            column = index.get(symbol)
            if column is None:
                continue
            channel_frames = rendered.get(channel)
            if channel_frames is None:
                channel_frames = rendered[channel] = self.render(channel, tick, self._columns)
            frames.append(channel_frames[column])
        return frames

    def rendered(self, tick: Tick) -> dict[str, list]:
        """The frames rendered so far in `tick`, per channel (a new tick starts afresh)."""
        if tick.serial != self._serial:
            self._serial, self._columns, self._rendered = tick.serial, tick.columns(), {}
        return self._rendered

    def render(self, channel: str, tick: Tick, columns: Columns) -> list[bytes | None]:
        """`channel`'s frame of every column of `tick` (None where a symbol is not quoted)."""
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

    def render(self, channel: str, tick: Tick, columns: Columns) -> list[bytes | None]:
        if channel == "markPrice":
            return ws_render.binance_marks(columns, self._ids)
        if channel == "bookTicker":
            return ws_render.binance_books(columns, self._ids, self._prices)
        return ws_render.binance_tickers(columns, self._ids, self._decimals, self._prices)


class BybitWs(WsDialect):
    """`{op: subscribe, req_id, args: [tickers.BTCUSDT]}` → `{success: true, op: subscribe, req_id}`;
    `{op: ping}` → `ret_msg: pong`; a snapshot per topic first, then deltas of the changed fields."""

    name = bybit.NAME
    path = "/v5/public/linear"

    _KEPT_ROWS = 4  # ticks whose rows are kept: a connection that fell behind gets its delta from them

    def __init__(self, state: MarketState, cadence: Mapping[str, float] | None = None) -> None:
        super().__init__(state, cadence)
        self._rows: collections.OrderedDict[int, dict[str, list[str]]] = collections.OrderedDict()
        self._tick: Tick | None = None  # the tick rendered last
        self._previous: Tick | None = None  # the tick rendered before it

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

    def frames(self, tick: Tick, topics: Iterable[Topic], sent: MutableMapping[str, Tick]) -> list[bytes]:
        """As `WsDialect.frames`: a snapshot of a topic's row first, then deltas from the tick
        this connection was sent last (most often the tick before, whose deltas are rendered
        for every symbol at once)."""
        frames = []
        rendered, index, previous = self.rendered(tick), tick.index, self._previous
        ts = self._columns.ts
        for _, symbol in topics:
            column = index.get(symbol)
            if column is None:
                continue
            before = sent.get(symbol)
            if before is None:
                frame = ws_render.bybit_snapshot(self._rows_of(tick), column, ts[column])
            elif previous is not None and before.serial == previous.serial:
                deltas = rendered.get("deltas")
                if deltas is None:
                    deltas = rendered["deltas"] = ws_render.bybit_deltas(
                        self._rows_of(tick), self._rows_of(previous), ts)
                frame = deltas[column]
            else:
                frame = ws_render.bybit_delta(self._rows_of(tick), self._rows_of(before), column, ts[column])
            sent[symbol] = tick
            frames.append(frame)
        return frames

    def rendered(self, tick: Tick) -> dict[str, list]:
        if tick.serial != self._serial and self._tick is not None:
            self._previous = self._tick
        self._tick = tick
        return super().rendered(tick)

    def _rows_of(self, tick: Tick) -> dict[str, list[str]]:
        """Every symbol's row values in `tick` (ws_render.bybit_columns), kept for a few ticks."""
        rows = self._rows.get(tick.serial)
        if rows is None:
            columns = self._columns if tick.serial == self._serial else tick.columns()
            rows = self._rows[tick.serial] = ws_render.bybit_columns(columns, self._ids, self._prices)
            while len(self._rows) > self._KEPT_ROWS:
                self._rows.popitem(last=False)
        return rows


class OkxWs(WsDialect):
    """`{op: subscribe, args: [{channel, instId}]}` → one `{event: subscribe, arg}` per arg;
    text `ping` → `pong`; `{arg, data: [row]}` per channel and tick (`tickers`, `mark-price`:
    {instType, instId, markPx, ts}, `funding-rate`)."""

    name = okx.NAME
    path = "/ws/v5/public"
    # tickers at most every 100 ms; mark-price every 200 ms while it moves; funding-rate every 30-90 s.
    cadence = {"mark-price": 0.2, "funding-rate": 30.0}
    _CHANNELS = ("tickers", "mark-price", "funding-rate")

    def __init__(self, state: MarketState, cadence: Mapping[str, float] | None = None) -> None:
        super().__init__(state, cadence)
        self._contract_values = [okx.contract_value(s.base) for s in state.specs]
        self._symbols = [s.symbol for s in state.specs]

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

    def render(self, channel: str, tick: Tick, columns: Columns) -> list[bytes | None]:
        if channel == "tickers":
            return ws_render.okx_tickers(columns, self._ids, self._prices, self._contract_values)
        if channel == "mark-price":
            return ws_render.okx_marks(columns, self._ids, self._prices)
        # every 30 s or more: built from the tick's quotes, as the REST body is
        return [_dumps({"arg": {"channel": channel, "instId": inst},
                        "data": [okx.funding_row(tick[symbol], d)]}).encode() if symbol in tick else None
                for symbol, inst, d in zip(self._symbols, self._ids, self._decimals, strict=True)]


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


