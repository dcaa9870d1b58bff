"""Websocket side of the simulator: one `WsSession` per client connection.

A session reads the client's requests (subscribe, application pings) and, on every tick of the
exchange's market, pushes a frame per subscribed topic whose channel is due (the dialect's
`cadence`; a new topic at once), from the very quotes the REST side serves in that tick. The
exchange's websocket faults (faults.py WS_KINDS) are applied per tick.

A tick's frames go out as one write of RFC 6455 text frames straight to the connection's transport
(a server's frames are not masked; permessage-deflate is off), not one `send_str` each: the
aiohttp writer's per-frame await and header work were most of what pushing a frame cost. Acks,
pongs and the frames of a faulted tick still go through aiohttp's writer; each write is whole
frames, so the two never interleave within one.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import struct

import structlog
from aiohttp import WSMsgType, web

from exchange_simulator.faults import WS_KINDS, FaultBook
from exchange_simulator.market import Quote
from exchange_simulator.ws_dialects import Topic, WsDialect

log = structlog.get_logger(__name__)
_MIN_SLEEP = 0.005
_PUSH_FAULTS = WS_KINDS - {"ws_reject"}
_REJECT = frozenset({"ws_reject"})
_TEXT_FIN = 0x81
_LENGTH_16, _LENGTH_64 = struct.Struct("!BBH"), struct.Struct("!BBQ")
_WRITE_HIGH_WATER = 4 * 2**20  # bytes queued for a slow reader before the pusher waits


def text_frames(payloads: list[bytes]) -> bytes:
    """`payloads` as consecutive unmasked websocket text frames (RFC 6455 5.2)."""
    parts = []
    for payload in payloads:
        size = len(payload)
        if size < 126:
            parts.append(bytes((_TEXT_FIN, size)))
        elif size < 65536:
            parts.append(_LENGTH_16.pack(_TEXT_FIN, 126, size))
        else:
            parts.append(_LENGTH_64.pack(_TEXT_FIN, 127, size))
        parts.append(payload)
    return b"".join(parts)


class WsCounters:
    """Per exchange: connections accepted and data frames sent."""

    def __init__(self) -> None:
        self.connections: collections.Counter[str] = collections.Counter()
        self.frames: collections.Counter[str] = collections.Counter()
        self.open: collections.Counter[str] = collections.Counter()
        self.pings: collections.Counter[str] = collections.Counter()


def ws_handler(dialect: WsDialect, faults: FaultBook, counters: WsCounters, sessions: set[WsSession],
               heartbeat: float | None):
    """The aiohttp handler of one exchange's websocket route: a `WsSession` per connection, kept
    in `sessions` while it runs (the simulator closes them when it stops)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        # No permessage-deflate: the real venues' public streams send plain text frames.
        ws = web.WebSocketResponse(compress=False, autoping=True, heartbeat=heartbeat)
        await ws.prepare(request)
        session = WsSession(dialect, ws, request.transport, faults, counters)
        sessions.add(session)
        try:
            await session.run()
        finally:
            sessions.discard(session)
        return ws

    return handle


class WsSession:
    def __init__(self, dialect: WsDialect, ws: web.WebSocketResponse, transport: asyncio.Transport | None,
                 faults: FaultBook, counters: WsCounters) -> None:
        self.dialect = dialect
        self.ws = ws
        self.transport = transport
        self.faults = faults
        self.counters = counters
        self.topics: dict[Topic, None] = {}  # ordered set
        self._fresh: set[Topic] = set()  # subscribed since the last tick pushed: sent at once
        self._pushed: dict[str, int] = {}  # channel -> the cadence window of the market clock it was last pushed in
        self._sent: dict[str, Quote] = {}  # symbol -> quote last sent (bybit deltas)
        self._sent_ts = 0

    async def run(self) -> None:
        name = self.dialect.name
        self.counters.connections[name] += 1
        self.counters.open[name] += 1
        try:
            async with asyncio.TaskGroup() as group:
                pusher = group.create_task(self._push(), name=f"sim-ws-push:{name}")
                await self._read()
                pusher.cancel()
        finally:
            self.counters.open[name] -= 1

    async def close(self) -> None:
        await self.ws.close(code=1001, message=b"simulator shutting down")

    # --- requests ------------------------------------------------------------------------
    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            pong = self.dialect.pong(message.data)
            if pong is not None:
                self.counters.pings[self.dialect.name] += 1
                await self.ws.send_str(pong)
                continue
            try:
                request = json.loads(message.data)
            except ValueError:
                continue
            if isinstance(request, dict):
                await self._subscribe(request)

    async def _subscribe(self, request: dict) -> None:
        subscription = self.dialect.subscribe(request)
        if subscription is None:
            return
        if self.faults.ws_fault(_REJECT) is not None or subscription.unknown:
            await self.ws.send_str(self.dialect.reject(request))
            return
        for ack in subscription.acks:
            await self.ws.send_str(ack)
        for topic in subscription.topics:
            self.topics[topic] = None
            self._fresh.add(topic)

    # --- pushing -------------------------------------------------------------------------
    async def _push(self) -> None:
        state = self.dialect.state
        while not self.ws.closed:
            await asyncio.sleep(self._until_next_tick())
            state.advance()
            if not self.topics or state.ts == self._sent_ts:
                continue
            fault = self.faults.ws_fault(_PUSH_FAULTS)
            kind = fault.kind if fault is not None else None
            if kind == "ws_close":
                await self.ws.close(code=1011, message=b"simulated server close")
                return
            if kind == "ws_silence":
                continue
            await self._send_tick(kind, fault.latency if fault is not None else 0.0)

    def _until_next_tick(self) -> float:
        state = self.dialect.state
        now = state.clock()
        following = (math.floor(now / state.tick) + 1) * state.tick
        return max(_MIN_SLEEP, following - now + 0.001)

    def _topics_due(self, ts: int) -> list[Topic]:
        """The topics to push in the tick stamped `ts`: those of the channels whose cadence came
        round (half a tick early counts: ticks do not divide every cadence) and new ones. The
        cadence runs on the market's clock, not the session's, as a venue pushes `markPrice@1s`
        to every subscriber at the same second: two clients connected at different times get
        the same events (replicas of one shard record the same identities)."""
        half_tick = self.dialect.state.tick * 500
        skipped = set()
        for channel, seconds in self.dialect.cadence.items():
            window = int((ts + half_tick) // max(1, int(seconds * 1000)))
            if window > self._pushed.get(channel, -1):
                self._pushed[channel] = window
            else:
                skipped.add(channel)
        fresh, self._fresh = self._fresh, set()
        if not skipped:
            return list(self.topics)
        return [t for t in self.topics if t[0] not in skipped or t in fresh]

    async def _send_tick(self, fault: str | None, latency: float) -> None:
        quotes = self.dialect.state.snapshot()
        self._sent_ts = self.dialect.state.ts
        topics = self._topics_due(self._sent_ts)
        frames = self.dialect.frames(quotes, topics, self._sent)
        for _, symbol in topics:
            quote = quotes.get(symbol)
            if quote is not None:
                self._sent[symbol] = quote
        if fault is None:
            await self._write(frames)
            return
        name = self.dialect.name
        for frame in frames:
            if fault == "ws_malformed":
                frame = frame[: len(frame) // 2]
            await self.ws.send_str(frame.decode())
            self.counters.frames[name] += 1
            if fault == "ws_slow":
                await asyncio.sleep(latency)
                if self.ws.closed:
                    return

    async def _write(self, frames: list[bytes]) -> None:
        """One tick's frames in one write; a reader that does not keep up holds the pusher back
        (ticks are then skipped, as when a send awaited aiohttp's drain)."""
        transport = self.transport
        if not frames or transport is None or transport.is_closing() or self.ws.closed:
            return
        transport.write(text_frames(frames))
        self.counters.frames[self.dialect.name] += len(frames)
        while transport.get_write_buffer_size() > _WRITE_HIGH_WATER and not transport.is_closing():
            await asyncio.sleep(_MIN_SLEEP)
