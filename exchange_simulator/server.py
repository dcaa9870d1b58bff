"""The simulator: one aiohttp server on 127.0.0.1 speaking the three exchanges' REST dialects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import structlog
from aiohttp import web

from exchange_simulator import binanceusdm, bybit, control, okx
from exchange_simulator.faults import Fault, FaultBook, make_fault
from exchange_simulator.listing import seed_for, symbol_specs
from exchange_simulator.market import MarketState, Quote
from exchange_simulator.replies import Reply, encode
from exchange_simulator.rest_server import RestServer
from exchange_simulator.ws_dialects import WS_DIALECTS, ws_urls
from exchange_simulator.ws_server import WsCounters, WsFeed

log = structlog.get_logger(__name__)

EXCHANGES = ("binanceusdm", "bybit", "okx")
_DIALECTS = {"binanceusdm": binanceusdm.Dialect, "bybit": bybit.Dialect, "okx": okx.Dialect}
MAX_SYMBOLS = 2000


class Simulator:
    """Async context manager serving simulated binanceusdm, bybit and okx on one port."""

    def __init__(
        self,
        symbols: int = 50,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        tick: float = 1.0,
        clock: Callable[[], float] = time.time,
        history_ticks: int = 300,
        ws_cadence: Mapping[str, Mapping[str, float]] | None = None,
        ws_heartbeat: float | None = None,
    ) -> None:
        """`ws_cadence` overrides a venue's websocket push cadence per exchange and wire channel
        (seconds; 0 = every tick), e.g. ``{"okx": {"funding-rate": 0}}``. `ws_heartbeat`: binance's
        server pings every this many seconds and drops a socket whose pong does not come (binance
        pings every 3 minutes; None: no pings)."""
        if not 1 <= symbols <= MAX_SYMBOLS:
            raise ValueError(f"symbols must be within 1..{MAX_SYMBOLS}")
        if tick <= 0:
            raise ValueError("tick must be > 0")
        self.host = host
        self.port = port
        self.seed = seed
        specs = symbol_specs(symbols, seed)
        self._states = {ex: MarketState(ex, specs, seed, clock, tick, history_ticks) for ex in EXCHANGES}
        self._dialects = {ex: _DIALECTS[ex](self._states[ex]) for ex in EXCHANGES}
        self._faults = {ex: FaultBook(seed_for(f"faults:{ex}", seed)) for ex in EXCHANGES}
        self._ws = WsCounters()
        self._feeds = {ex: WsFeed(WS_DIALECTS[ex](self._states[ex], (ws_cadence or {}).get(ex)), self._faults[ex],
                                  self._ws, ws_heartbeat if ex == binanceusdm.NAME else None) for ex in EXCHANGES}
        self._closing = asyncio.Event()
        self._rest = RestServer(self._dialects, self._faults, self._closing)
        self._runner: web.AppRunner | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        control.add_routes(app, self)
        for feed in self._feeds.values():
            for path in (feed.dialect.path, *feed.dialect.paths):
                app.router.add_get(path, feed.handle)
        app.router.add_route("*", "/{tail:.*}", self._rest.handle)
        # Handlers of clients that gave up (a timeout fault) are cancelled, not left hanging.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        for feed in self._feeds.values():  # once listening: a start that fails leaves no loop behind
            feed.start()
        log.info("simulator_started", url=self.url, symbols=len(self._states["okx"].specs), seed=self.seed)

    async def close(self) -> None:
        self._closing.set()
        for feed in self._feeds.values():
            await feed.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- public API ----------------------------------------------------------------------
    def ccxt_options(self, exchange: str) -> dict:
        """Config to deep-merge into the ccxt constructor: every API URL key (REST and ccxt pro's
        websocket ones, `urls.api.ws`) points here."""
        options = self._dialect(exchange).ccxt_options(self.url)
        options["urls"]["api"]["ws"] = ws_urls(exchange, self.url)
        return options

    def symbols(self, exchange: str) -> list[str]:
        return self._state(exchange).symbols()

    def set_fault(self, exchange: str, kind: str, **settings: object) -> Fault:
        """Add a fault rule; settings: path, count, probability, retry_after, latency, status, skew_ms."""
        fault = make_fault(kind, **settings)
        book = self._book(exchange)
        book.add(fault)
        self._state(exchange).set_skew(book.skew_ms)
        return fault

    def clear_faults(self, exchange: str | None = None) -> None:
        for ex in self._selected(exchange):
            self._faults[ex].clear()
            self._states[ex].set_skew(0)

    def faults(self, exchange: str) -> list[Fault]:
        return self._book(exchange).active()

    def delist(self, exchange: str, symbol: str, mode: str = "status") -> None:
        """Take a symbol off: ``status`` keeps it listed as settling/closed, ``remove`` drops it."""
        self._state(exchange).delist(symbol, mode)

    def relist(self, exchange: str, symbol: str) -> None:
        """List a delisted (or `delist(..., mode="remove")`-ed) symbol again: a new listing."""
        self._state(exchange).relist(symbol)

    def specs(self, exchange: str) -> list:
        """The listed symbols' specs (decimals, funding interval), e.g. for `market.settlements`."""
        return self._state(exchange).specs

    def set_trading(self, exchange: str, trading: bool) -> None:
        """``False``: no more trades (last price and the 24 h ticker's closeTime stay), while the
        24 h window, the volumes, the book and the mark price keep moving tick by tick."""
        self._state(exchange).trading = trading

    def set_feed(self, tick: float, exchange: str | None = None) -> None:
        """Step the market (and push the websocket feed) every `tick` seconds from now on."""
        if not tick > 0:
            raise ValueError("tick must be > 0")
        for ex in self._selected(exchange):
            self._states[ex].tick = tick

    def hold(self, exchange: str, symbol: str, moving: str, time_moves: bool = True) -> None:
        """Only `moving` (a `Quote` field) of `symbol` changes from the next tick on (`MarketState.hold`)."""
        self._state(exchange).hold(symbol, moving, time_moves)

    def request_count(self, exchange: str | None = None, path_contains: str | None = None) -> int:
        return sum(
            n for ex in self._selected(exchange) for path, n in self._rest.requests[ex].items()
            if path_contains is None or path_contains in path
        )

    def requests(self, exchange: str) -> dict[str, int]:
        """Requests served per path (query string included, so single-symbol calls show)."""
        return dict(self._rest.requests[self._checked(exchange)])

    def fault_count(self, exchange: str | None = None, kind: str | None = None) -> int:
        return sum(
            n for ex in self._selected(exchange) for k, n in self._faults[ex].fired.items()
            if kind is None or k == kind
        )

    def reset_counts(self) -> None:
        for ex in EXCHANGES:
            self._rest.requests[ex].clear()
            self._faults[ex].reset_counts()

    def state(self, exchange: str) -> dict[str, Quote]:
        """Values served now per unified symbol (takes a new tick if the clock entered one)."""
        return self._state(exchange).snapshot()

    def served(self, exchange: str, symbol: str, ts: int) -> Quote | None:
        """What was served for ``symbol`` in the tick stamped ``ts``; None if never served."""
        return self._state(exchange).served(symbol, ts)

    def history(self, exchange: str) -> list[tuple[int, dict[str, Quote]]]:
        return list(self._state(exchange).history)

    def replay(self, exchange: str, path: str, body: bytes | str | object, query: Mapping[str, str] | None = None,
               status: int = 200) -> None:
        """Serve a recorded body for ``path`` (and a query subset) instead of the generated one."""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = encode(body)
        self._rest.add_replay(self._checked(exchange), path, dict(query or {}), Reply(status, body))

    def ws_connections(self, exchange: str | None = None, open_only: bool = False) -> int:
        """Websocket connections accepted (or open now) for one exchange or all."""
        counter = self._ws.open if open_only else self._ws.connections
        return sum(counter[ex] for ex in self._selected(exchange))

    def ws_pings(self, exchange: str | None = None) -> int:
        """Application-level pings answered (bybit `{"op":"ping"}`, okx `ping`)."""
        return sum(self._ws.pings[ex] for ex in self._selected(exchange))

    def ws_frames(self, exchange: str | None = None) -> int:
        """Data frames pushed to websocket clients."""
        return sum(self._ws.frames[ex] for ex in self._selected(exchange))

    def stats(self) -> dict:
        return {
            "ws_connections": dict(self._ws.connections),
            "ws_open": dict(self._ws.open),
            "ws_frames": dict(self._ws.frames),
            "url": self.url,
            "requests": {ex: dict(c) for ex, c in self._rest.requests.items()},
            "request_total": self.request_count(),
            "faults_fired": {ex: dict(b.fired) for ex, b in self._faults.items()},
            "faults_active": {ex: [f.to_json() for f in b.active()] for ex, b in self._faults.items()},
            "symbols": {ex: len(s.symbols()) for ex, s in self._states.items()},
            "tick": {ex: s.tick for ex, s in self._states.items()},
            "ts": {ex: s.ts for ex, s in self._states.items()},
        }

    def reset(self) -> None:
        self.reset_counts()
        self.clear_faults()

    # --- serving -------------------------------------------------------------------------
    def _checked(self, exchange: str) -> str:
        if exchange not in self._states:
            raise KeyError(f"unknown exchange {exchange!r}; simulated: {', '.join(EXCHANGES)}")
        return exchange

    def _selected(self, exchange: str | None) -> tuple[str, ...]:
        return EXCHANGES if exchange is None else (self._checked(exchange),)

    def _state(self, exchange: str) -> MarketState:
        return self._states[self._checked(exchange)]

    def _dialect(self, exchange: str):
        return self._dialects[self._checked(exchange)]

    def _book(self, exchange: str) -> FaultBook:
        return self._faults[self._checked(exchange)]

