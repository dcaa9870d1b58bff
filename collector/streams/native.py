"""One session of a native connection (`decoder: native`): the venue's websocket opened with
aiohttp's client, no ccxt pro object. Generic: the venue's differences are its `Wire`
(native_dialects.py).

A session connects, sends the wire's subscriptions, starts the wire's application pings (bybit
`{"op":"ping"}` every 20 s, okx `ping` every 25 s; binance pings itself and aiohttp's autoping
answers), and reads: each text frame is decoded with orjson; a data frame (the dialect's
`frame_ident`) goes through conflation (conflation.py) and, when let through, becomes its
symbol's latest entry (the wire's `absorb`) queued for the owner's sweep with its arrival time;
a refused subscription ends the session (STREAM_002); anything else (acks, pongs) is skipped.
A frame that cannot be read (truncated JSON, missing parts) is skipped and counted: one
STREAM_003 line per episode (`BadFrames`), never a traceback, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson
import structlog

from collector import metrics
from collector.errors import ErrorCode, one_line
from collector.streams.conflation import Conflation
from collector.streams.native_dialects import Entry, Wire

log = structlog.get_logger(__name__)

# Parts of a frame that were missing or of the wrong type, where the wire reads them.
FRAME_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)
_CONNECT_TIMEOUT = 10.0  # seconds for the handshake; the watchdog judges the rest
_CLOSED = frozenset((aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED))  # as `async for` ends


def _no_frame() -> int | None:
    return None


class SubscriptionRejected(Exception):
    """The venue refused the subscription (an unknown symbol, a malformed request)."""


class SocketClosed(ConnectionError):
    """The venue closed the socket."""


class BadFrames:
    """Unreadable frames of one connection: counted, and one STREAM_003 line per episode (an
    episode ends after `quiet` seconds without one)."""

    def __init__(self, connection: str, *, quiet: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._connection = connection
        self._exchange = connection.split(":", 1)[0]
        self._quiet = quiet
        self._clock = clock
        self._last: float | None = None
        self.count = 0

    def __call__(self, err: BaseException) -> None:
        now = self._clock()
        self.count += 1
        metrics.records_skipped.labels(self._exchange, "frame", "unreadable").inc()
        if self._last is None or now - self._last > self._quiet:
            log.warning("stream_frame_unreadable", connection=self._connection, error_code=ErrorCode.STREAM_003,
                        error=one_line(err), detail="frame skipped; the stream goes on")
        self._last = now


class NativeSession:
    def __init__(self, wire: Wire, url: str, *, ident: Callable, gate: Callable[..., Conflation],
                 market_ids: Callable[[tuple[str, ...]], dict[str, str]], bad: BadFrames) -> None:
        self._wire = wire
        self._url = url
        self._ident = ident
        self._make_gate = gate  # (symbols=, handle=, entry=, parsed=, unreadable=)
        self._market_ids = market_ids  # symbols -> {market id: symbol}
        self.bad = bad
        self.last_ms: int | None = None  # when the current socket's last frame came (UTC ms)

    @staticmethod
    def rejected(err: BaseException | None) -> bool:
        return isinstance(err, SubscriptionRejected)

    @staticmethod
    def expected(err: BaseException) -> bool:
        return isinstance(err, (SubscriptionRejected, aiohttp.ClientError, OSError, asyncio.TimeoutError))

    async def run(self, connection: Any) -> None:
        ids = self._market_ids(connection.symbols)
        entries: dict[str, Entry] = {}
        absorb = self._wire.absorb

        def handle(symbol: str, frame: Mapping[str, Any]) -> None:
            entry = absorb(entries.get(symbol), symbol, frame)
            if entry is not None:
                entries[symbol] = entry

        gate = self._make_gate(symbols=ids, handle=handle, entry=entries.get, parsed=connection.pending,
                               unreadable=self.bad)
        timeout = aiohttp.ClientWSTimeout(ws_close=_CONNECT_TIMEOUT)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=_CONNECT_TIMEOUT)) as http, \
                http.ws_connect(self._url, autoping=True, max_msg_size=0, timeout=timeout,
                                decode_text=False) as ws:
            connection.exchange, connection.gate, connection.entries_of = ws, gate, lambda: entries
            self.last_ms = None
            connection.frame_at = lambda: self.last_ms
            pinger = None
            try:
                for message in self._wire.subscribe(list(ids), connection.channel.name):
                    await ws.send_str(orjson.dumps(message).decode())
                if self._wire.ping is not None:
                    pinger = asyncio.create_task(self._ping(ws), name=f"stream:{connection.name}:ping")
                await self._read(ws, gate, ids)
                raise SocketClosed(f"{self._url} closed by the venue (code {ws.close_code})")
            finally:
                if pinger is not None:
                    pinger.cancel()  # the session owns it: it ends with the socket
                connection.exchange, connection.gate = None, None
                connection.entries_of = dict
                connection.frame_at = _no_frame

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        ping = self._wire.ping
        text = ping if isinstance(ping, str) else orjson.dumps(ping).decode()
        while not ws.closed:
            await asyncio.sleep(self._wire.ping_every)
            try:
                await ws.send_str(text)
            except (aiohttp.ClientError, ConnectionError):
                return  # the reader sees the socket close

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, gate: Conflation, ids: Mapping[str, str]) -> None:
        # One call per frame (thousands a second): `receive()` itself rather than `async for`,
        # and text frames as the bytes that came (decode_text=False), which orjson reads as they are.
        pong = None if self._wire.pong is None else self._wire.pong.encode()
        receive, frame, text_type = ws.receive, self._frame, aiohttp.WSMsgType.TEXT
        while True:
            message = await receive()
            if message.type is not text_type:
                if message.type in _CLOSED:
                    return
                continue  # aiohttp answered a ping
            self.last_ms = arrived = int(time.time() * 1000)
            data = message.data
            if data != pong:
                frame(data, arrived, gate, ids)

    def _frame(self, text: bytes, arrived: int, gate: Conflation, ids: Mapping[str, str]) -> None:
        try:
            frame = orjson.loads(text)
            ident = self._ident(frame) if type(frame) is dict else None
            if ident is None:
                self._not_data(frame)
                return
            symbol = ids.get(ident[0])
            if symbol is not None:  # a market this connection did not subscribe: nothing reads it
                # conflation's `client` slot carries the symbol on this path (handle above)
                gate.offer(ident[0], ident[1], symbol, frame, arrived)
        except FRAME_ERRORS as err:  # orjson's JSONDecodeError is a ValueError
            self.bad(err)

    def _not_data(self, frame: Any) -> None:
        if type(frame) is not dict:
            raise TypeError(f"a frame of type {type(frame).__name__}, not an object")
        refused = self._wire.rejection(frame)
        if refused is not None:
            raise SubscriptionRejected(refused)
