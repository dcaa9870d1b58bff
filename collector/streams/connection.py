"""One websocket connection: one channel for a list of symbols, for either decoder.

`run()` keeps a session alive forever: the session (ccxtpro.CcxtProSession, or native.NativeSession)
opens the socket, subscribes and reads; when it fails or the watchdog (`check`, at each of the
owner's sweeps) tears it down, the session closes, and after the backoff a new one starts.

Each session puts conflation (conflation.py, `gate`) in front of its parsing: every frame it
lets through is parsed into the session's latest entries (`entries_of`), and the entry it made
is queued (`pending`) for the owner's next sweep, so no parsed update is missed even when several
arrive between two sweeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from collector.errors import ErrorCode, one_line
from collector.resilience.retry import RetryPolicy
from collector.streams.conflation import Conflation
from collector.streams.dialects import Channel

log = structlog.get_logger(__name__)


class Session(Protocol):
    """What one decoder's sessions do (ccxtpro.CcxtProSession, native.NativeSession)."""

    async def run(self, connection: "Connection") -> None: ...  # until the socket fails

    def rejected(self, err: BaseException | None) -> bool: ...  # a refused subscription: STREAM_002

    def expected(self, err: BaseException) -> bool: ...  # a socket failure, not a crash of ours


def _no_entries() -> Mapping[str, Any]:
    return {}


def _no_frame() -> int | None:
    return None


class Connection:
    def __init__(self, exchange: str, index: int, channel: Channel, symbols: list[str], *,
                 session: Session, on_change: Callable[[], None],
                 backoff: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = f"{exchange}:{channel.name}:{index}"
        self.channel = channel
        self.symbols = tuple(symbols)
        self.exchange: Any = None  # the current session's handle (ccxt pro instance, native socket); None between sessions
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
        self.gate: Conflation | None = None  # the current session's conflation
        self.entries_of: Callable[[], Mapping[str, Any]] = _no_entries  # the session's latest entry per symbol
        self.frame_at: Callable[[], int | None] = _no_frame  # when the session's last frame came (UTC ms)
        self.pending: list[tuple[str, Any, int]] = []  # (symbol, entry, arrival ms) parsed since the last sweep
        self._moved_this_session: set[str] = set()
        self.decoder_session = session
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
        """The frames the gate kept that came due are parsed into the session's entries (at the sweep); with
        `everything` (a stop) every frame it keeps."""
        if self.gate is not None and self.exchange is not None:
            self.gate.release(now, everything=everything)

    def take(self) -> list[tuple[str, Any, int]]:
        """The entries parsed since the last call, oldest first."""
        taken = self.pending[:]
        self.pending.clear()  # the gate holds this very list
        return taken

    def latest(self, symbol: str) -> Any:
        """The session's entry of `symbol` with the frame the gate kept for it parsed first: for a
        record about to take fields from this channel."""
        if self.gate is not None and self.exchange is not None:
            self.gate.flush_symbol(symbol)
        return self.entries().get(symbol)

    def entries(self) -> Mapping[str, Any]:
        """The session's latest entry per symbol (empty between sessions)."""
        return self.entries_of()

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
            self.error_code = ErrorCode.STREAM_002 if self.decoder_session.rejected(err) else ErrorCode.STREAM_001
            if err is not None and not self.decoder_session.expected(err):
                log.error("stream_session_crashed", connection=self.name, error_code=ErrorCode.APP_002,
                          error=self.last_error, exc_info=err)
        log.debug("stream_connection_down", connection=self.name, error=self.last_error)
        self._on_change()

    async def _watch_session(self) -> None:
        await self.decoder_session.run(self)
