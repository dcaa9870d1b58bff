"""One websocket connection: its own ccxt pro instance watching one channel for a list of symbols.

`run()` keeps a session alive forever: open a ccxt pro instance (markets handed over, not
reloaded), watch, and when the watch fails or the watchdog (`check`, at each of the owner's
sweeps) tears it down, close the instance, wait the backoff and start again. Its own instance
per connection gives each list of symbols its own socket on every venue (ccxt pro shares one
socket per URL within an instance).

Each session's instance has a `FrameGate` in front of its message handler (ccxtpro.py):
every frame it hands ccxt pro is parsed into ccxt pro's cache, and the entry it made is queued
(`pending`) for the owner's next sweep, so no parsed update is missed even when several arrive
between two sweeps. The session watches once, to subscribe, then only checks that the socket is
open (`WATCH_PACE`); ccxt pro's own client keeps reading, pinging and parsing meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from ccxt.base import errors as ccxt_errors

from collector.errors import ErrorCode, one_line
from collector.streams.dialects import Channel
from collector.streams.ccxtpro import FrameGate
from collector.resilience.retry import RetryPolicy

log = structlog.get_logger(__name__)

MakeGate = Callable[..., FrameGate]  # (ccxt pro instance, symbols=, cache=, parsed=)
WATCH_PACE = 0.5  # seconds between two looks at the socket: how soon a closed one is noticed
# A failed session: the socket, the exchange's answer, or a rejected subscription.
SESSION_ERRORS = (ccxt_errors.BaseError, OSError, ConnectionError)


class UnreadableFrames:
    """Loop exception handler: ccxt pro decodes frames in a loop callback, so a frame it cannot
    parse raises there and its reader stops (the watchdog then reconnects). That is one warning
    line with its code, at most once a minute, instead of asyncio's traceback; anything else goes
    to the default handler."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._logged_at: float | None = None
        self._unlogged = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        err = context.get("exception")
        if err is None or not _raised_in_ccxt(err):
            loop.default_exception_handler(context)
            return
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < self._every:
            self._unlogged += 1
            return
        log.warning("stream_frame_unreadable", error_code=ErrorCode.STREAM_003, error=one_line(err),
                    detail="ccxt pro stopped reading this connection; the watchdog reconnects it",
                    unlogged_since_last_line=self._unlogged)
        self._logged_at, self._unlogged = now, 0


def _raised_in_ccxt(err: BaseException) -> bool:
    tb = err.__traceback__
    while tb is not None:
        if "/ccxt/" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


class ConnectionLost(ConnectionError):
    """The socket closed while the watch loop was pacing itself."""


class Connection:
    def __init__(self, exchange: str, index: int, channel: Channel, symbols: list[str], *,
                 open_exchange: Callable[[], Any], gate: MakeGate, on_change: Callable[[], None],
                 backoff: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = f"{exchange}:{channel.name}:{index}"
        self.channel = channel
        self.symbols = tuple(symbols)
        self.exchange: Any = None  # the ccxt pro instance of the current session
        self.up = False  # delivering data since the current session started
        self.failed = False  # a session ended (or was torn down) since the last one came up
        self.sessions = 0
        self.last_error: str | None = None
        self.error_code: ErrorCode | None = None
        self.advanced_at = clock()  # newest time any of its symbols moved on
        self.session_started = self.advanced_at
        self.moved_at: dict[str, float] = {}
        self.seen: dict[str, object] = {}  # symbol -> cache entry last read
        self.added = False  # opened for a new listing while the others were streaming
        self.task: asyncio.Task | None = None  # the owner's task running `run()`
        self.gate: FrameGate | None = None  # the current session's conflation
        self.pending: list[tuple[str, Any, int]] = []  # (symbol, entry, arrival ms) parsed since the last sweep
        self._moved_this_session: set[str] = set()
        self._open = open_exchange
        self._make_gate = gate
        self._on_change = on_change  # told when the connection goes up or down
        self._backoff = backoff
        self._clock = clock
        self._session: asyncio.Task | None = None
        self._teardown: str | None = None

    def joining(self, now: float, stale_after: float) -> bool:
        """Added for a new listing while the stream is up, and not yet delivering nor failed:
        not a fault (yet); the watchdog tears it down after `stale_after` like any other."""
        return self.added and self.sessions <= 1 and not self.failed and now - self.session_started <= stale_after

    def forget(self, gone: set[str]) -> bool:
        """Delisted symbols are no longer expected; True when none is left."""
        self.symbols = tuple(s for s in self.symbols if s not in gone)
        for symbol in gone:
            self.moved_at.pop(symbol, None)
        return not self.symbols

    @property
    def reconnects(self) -> int:
        return max(0, self.sessions - 1)

    def release(self, now: float, *, everything: bool = False) -> None:
        """The frames the gate kept that came due go to ccxt pro's cache (at the sweep); with
        `everything` (a stop) every frame it keeps."""
        if self.gate is not None and self.exchange is not None:
            self.gate.release(now, everything=everything)

    def take(self) -> list[tuple[str, Any, int]]:
        """The entries parsed since the last call, oldest first."""
        taken = self.pending[:]
        self.pending.clear()  # the gate holds this very list
        return taken

    def latest(self, symbol: str) -> Any:
        """ccxt pro's entry of `symbol` with the frame the gate kept for it parsed first: for a
        record about to take fields from this channel."""
        if self.gate is not None and self.exchange is not None:
            market = (self.exchange.markets or {}).get(symbol)
            if market is not None:
                self.gate.flush(market["id"])
        return self.entries().get(symbol)

    def entries(self) -> Mapping[str, Any]:
        """ccxt pro's latest entry per symbol for this session (empty between sessions)."""
        if self.exchange is None:
            return {}
        return getattr(self.exchange, self.channel.cache, None) or {}

    @property
    def delivered(self) -> int:
        """Symbols that moved on since the current session started."""
        return len(self._moved_this_session)

    def moved(self, symbol: str, now: float) -> None:
        """`symbol` moved on; the connection is up once most of its symbols did this session (a
        trickle of frames is not a working stream)."""
        if symbol not in self._moved_this_session:
            self._moved_this_session.add(symbol)
            if not self.up and len(self._moved_this_session) * 2 > len(self.symbols):
                self.up = True
                self.failed = False
                log.debug("stream_connection_up", connection=self.name, session=self.sessions)
                self._on_change()
        self.moved_at[symbol] = now
        self.advanced_at = now

    def check(self, now: float, stale_after: float) -> None:
        """The watchdog, at every sweep: tear down a connection that does not deliver, or stopped
        delivering, for `stale_after` plus its channel's `quiet`."""
        if self.exchange is None:
            return  # between sessions
        limit = stale_after + self.channel.quiet
        count = len(self.symbols)
        if not self.up:
            age = now - self.session_started
            if age > limit:
                self.tear_down(f"{self.delivered} of {count} symbols delivered in {age:.1f}s "
                               f"since connecting (stream_stale_after {limit:g}s)")
            return
        idle = now - self.advanced_at
        if idle > limit:
            self.tear_down(f"no new data for {idle:.1f}s (stream_stale_after {limit:g}s)")
            return
        frozen = sum(1 for t in self.moved_at.values() if now - t > limit)
        if frozen * 2 >= count:
            self.tear_down(f"{frozen} of {count} symbols stopped advancing for {limit:g}s")

    def tear_down(self, reason: str) -> None:
        """Called by the watchdog: end the current session; `run` reconnects after the backoff."""
        if self._session is not None and not self._session.done() and self._teardown is None:
            self._teardown = reason
            self._session.cancel()

    async def run(self) -> None:
        attempt = 0
        while True:
            self._start_session()
            try:
                await asyncio.wait({self._session})
            finally:
                if not self._session.done():  # we are being cancelled: take the session with us
                    self._session.cancel()
                    await asyncio.wait({self._session})
            was_up = self.up
            self._ended(self._session)
            attempt = 1 if was_up else attempt + 1
            await asyncio.sleep(self._backoff.backoff(attempt))

    def _start_session(self) -> None:
        self.sessions += 1
        self._teardown = None
        now = self._clock()
        self.advanced_at = self.session_started = now
        self.moved_at = dict.fromkeys(self.symbols, now)
        self.seen = {}
        self.pending = []
        self._moved_this_session = set()
        self._session = asyncio.create_task(self._watch_session(), name=f"stream:{self.name}:session")

    def _ended(self, session: asyncio.Task) -> None:
        self.up = False
        self.failed = True
        if self._teardown is not None:
            self.last_error, self.error_code = self._teardown, ErrorCode.STREAM_001
        elif session.cancelled():
            self.last_error, self.error_code = "session cancelled", ErrorCode.STREAM_001
        else:
            err = session.exception()
            self.last_error = one_line(err) if err is not None else "the watch ended"
            rejected = isinstance(err, (ccxt_errors.ExchangeError, ccxt_errors.BadRequest))
            self.error_code = ErrorCode.STREAM_002 if rejected else ErrorCode.STREAM_001
            if err is not None and not isinstance(err, SESSION_ERRORS):
                log.error("stream_session_crashed", connection=self.name, error_code=ErrorCode.APP_002,
                          error=self.last_error, exc_info=err)
        log.debug("stream_connection_down", connection=self.name, error=self.last_error)
        self._on_change()

    async def _watch_session(self) -> None:
        exchange = self._open()
        self.gate = self._make_gate(exchange, symbols=self._market_ids(exchange), cache=self.channel.cache,
                                    parsed=self.pending)
        self.exchange = exchange
        try:
            await self._watch(exchange)
        finally:
            self.exchange = None
            self.gate = None
            await exchange.close()

    def _market_ids(self, exchange: Any) -> dict[str, str]:
        """Market id -> symbol of this connection's symbols. Not in the session's frame: a local
        there would hold the markets tables the session opened with until it ends, past every
        reload (the instance itself takes the reloaded ones, markets.share_markets)."""
        markets = exchange.markets or {}
        return {markets[s]["id"]: s for s in self.symbols if s in markets}

    async def _watch(self, exchange: Any) -> None:
        watch = getattr(exchange, self.channel.method)
        symbols, params = list(self.symbols), dict(self.channel.params)
        await watch(symbols, params)  # subscribes; returns with the first update
        client = next(iter(exchange.clients.values()))
        # Watching again would only hand back what the gate already queued, at a cost that grows
        # with the symbols (ccxt pro filters its cache for them on every call): watch the socket.
        while True:
            await asyncio.sleep(WATCH_PACE)
            if client.closed() or exchange.clients.get(client.url) is not client:
                raise ConnectionLost(f"{client.url} closed ({one_line(client.error) if client.error else 'by the server'})")
