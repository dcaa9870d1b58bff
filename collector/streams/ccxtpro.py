"""The ccxt pro side of a stream (`decoder: ccxt`): the only module that touches ccxt pro's
internals.

- `FrameGate` takes ccxt pro's message handler's place on an instance and puts conflation
  (conflation.py) in front of it: parsing is nearly all of a stream's CPU (ccxt pro's
  parse_ticker does string arithmetic on every field), and at 10 updates/s per symbol nine parses
  in ten would feed records the conflation then throws away. Frames that are not data (acks,
  pongs, errors, frames of no known shape) go to ccxt pro untouched; each data frame's arrival is
  ccxt pro's client's `last_message_at`.
- `CcxtProSession` runs one session of a connection: its own ccxt pro instance (markets handed
  over, not reloaded; its own instance gives each list of symbols its own socket, ccxt pro shares
  one per URL within an instance), watched once to subscribe, then only checked for an open
  socket (`WATCH_PACE`) while ccxt pro's client keeps reading, pinging and parsing.
- `UnreadableFrames`: ccxt pro parses in a loop callback, so a frame it cannot parse raises there;
  one STREAM_003 line a minute instead of asyncio's traceback (recognised by a frame of a `ccxt`
  module in its traceback: the modules' names, not where they are installed).

It replaces the instance's `handle_message` and reads its `clients` (their `last_message_at`,
`closed()`, `url`, `error`). `check_supported()` fails the start loudly (and
tests/unit/streams/test_ccxtpro_supported.py) on a ccxt whose version or pro classes lack them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, Final

import structlog
from ccxt.base import errors as ccxt_errors

from collector.errors import CollectorError, ErrorCode, one_line
from collector.streams.conflation import Conflation, FrameIdent, FrameMerge

log = structlog.get_logger(__name__)

WATCH_PACE = 0.5  # seconds between two looks at the socket: how soon a closed one is noticed
# A failed session: the socket, the exchange's answer, or a rejected subscription.
SESSION_ERRORS = (ccxt_errors.BaseError, OSError, ConnectionError)
SUPPORTED_CCXT_PRO: Final = ((4, 5),)  # ccxt's (major, minor) whose pro internals this module uses
_PRO_INTERNALS: Final = ("handle_message", "clients")


class UnsupportedCcxtPro(CollectorError):
    """The installed ccxt's pro is not one whose internals this module was written against."""

    code = ErrorCode.APP_001


def check_supported(exchange: object | None = None) -> None:
    """Raise UnsupportedCcxtPro unless ccxt (and `exchange`, a pro instance or class, when
    given) has what the gate and the session use."""
    version = metadata.version("ccxt")
    if tuple(int(part) for part in version.split(".")[:2]) not in SUPPORTED_CCXT_PRO:
        raise UnsupportedCcxtPro(f"ccxt {version} is not supported by collector/streams/ccxtpro.py (written for "
                                 f"{', '.join('.'.join(map(str, v)) for v in SUPPORTED_CCXT_PRO)})")
    if exchange is not None and (missing := [name for name in _PRO_INTERNALS if not hasattr(exchange, name)]):
        raise UnsupportedCcxtPro(f"ccxt {version}'s pro exchange lacks {', '.join(missing)}")


class FrameGate(Conflation):
    def __init__(self, exchange: Any, ident: FrameIdent, merge: FrameMerge | None, interval: float,
                 clock: Callable[[], float], *, symbols: Mapping[str, str], cache: str,
                 parsed: list[tuple[str, Any, int]]) -> None:
        super().__init__(ident, merge, interval, clock, symbols=symbols, handle=exchange.handle_message,
                         entry=lambda symbol: (getattr(exchange, cache, None) or {}).get(symbol),
                         parsed=parsed, unreadable=_report_unreadable)
        exchange.handle_message = self._on_message  # ccxt pro's clients are made with ours

    def _on_message(self, client: Any, message: Any) -> Any:
        ident = self._ident(message) if type(message) is dict else None
        if ident is None:
            return self._handle(client, message)
        arrived = getattr(client, "last_message_at", None) or int(time.time() * 1000)
        self.offer(ident[0], ident[1], client, message, arrived)
        return None


def _report_unreadable(err: Exception) -> None:
    """A kept frame ccxt pro cannot parse, reported as its own would be (the loop's handler)."""
    asyncio.get_running_loop().call_exception_handler(
        {"message": "ccxt pro could not handle a stream frame", "exception": err})


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
    """A frame of one of ccxt's modules (ccxt pro's client, its parsers) is in the traceback."""
    tb = err.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module == "ccxt" or module.startswith("ccxt."):
            return True
        tb = tb.tb_next
    return False


class ConnectionLost(ConnectionError):
    """The socket closed while the watch loop was pacing itself."""


class CcxtProSession:
    """One session of a connection through its own ccxt pro instance."""

    def __init__(self, open_exchange: Callable[[], Any], gate: Callable[..., FrameGate]) -> None:
        self._open = open_exchange
        self._make_gate = gate  # (ccxt pro instance, symbols=, cache=, parsed=)

    @staticmethod
    def rejected(err: BaseException | None) -> bool:
        return isinstance(err, (ccxt_errors.ExchangeError, ccxt_errors.BadRequest))

    @staticmethod
    def expected(err: BaseException) -> bool:
        return isinstance(err, SESSION_ERRORS)

    async def run(self, connection: Any) -> None:
        exchange = self._open()
        cache = connection.channel.cache
        connection.gate = self._make_gate(exchange, symbols=_market_ids(exchange, connection.symbols),
                                          cache=cache, parsed=connection.pending)
        connection.exchange = exchange
        connection.entries_of = lambda: getattr(exchange, cache, None) or {}
        connection.frame_at = lambda: _last_message_at(exchange)
        try:
            await _watch(exchange, connection)
        finally:
            connection.exchange = None
            connection.gate = None
            connection.entries_of = _no_entries
            connection.frame_at = _no_frame
            await exchange.close()


def _no_entries() -> Mapping[str, Any]:
    return {}


def _no_frame() -> int | None:
    return None


def _last_message_at(exchange: Any) -> int | None:
    """When the instance's clients last received a frame (any frame, pongs included; UTC ms)."""
    times = [at for client in (exchange.clients or {}).values()
             if (at := getattr(client, "last_message_at", None)) is not None]
    return max(times, default=None)


def _market_ids(exchange: Any, symbols: tuple[str, ...]) -> dict[str, str]:
    """Market id -> symbol of the connection's symbols. Not in the session's frame: a local there
    would hold the markets tables the session opened with until it ends, past every reload (the
    instance itself takes the reloaded ones, ccxtpro_markets.share_markets)."""
    markets = exchange.markets or {}
    return {markets[s]["id"]: s for s in symbols if s in markets}


async def _watch(exchange: Any, connection: Any) -> None:
    watch = getattr(exchange, connection.channel.method)
    await watch(list(connection.symbols), dict(connection.channel.params))  # subscribes; returns with the first update
    client = next(iter(exchange.clients.values()))
    # Watching again would only hand back what the gate already queued, at a cost that grows
    # with the symbols (ccxt pro filters its cache for them on every call): watch the socket.
    while True:
        await asyncio.sleep(WATCH_PACE)
        if client.closed() or exchange.clients.get(client.url) is not client:
            raise ConnectionLost(f"{client.url} closed ({one_line(client.error) if client.error else 'by the server'})")
