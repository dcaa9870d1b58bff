"""Websocket side of the simulator: one `WsFeed` per exchange, one `WsSession` per connection.

A session reads the client's requests (subscribe, application pings). The exchange's feed steps
its market once a tick and pushes each session a frame per subscribed topic whose channel is due
(the dialect's `cadence`; a new topic at once), from the very quotes the REST side serves in that
tick. One loop per exchange, not one per connection: when a tick's work outlasts the tick (a
fast feed, a busy machine), the market still steps once per round of pushes, not once per
connection that wakes. The exchange's websocket faults (faults.py WS_KINDS) are drawn per session
and tick.

A tick's frames go out as one write of RFC 6455 text frames straight to the connection's transport
(a server's frames are not masked; permessage-deflate is off), not one `send_str` each: the
aiohttp writer's per-frame await and header work were most of what pushing a frame cost. Acks,
pongs and the frames of a faulted tick still go through aiohttp's writer; each write is whole
frames, so the two never interleave within one. A reader with more than `_WRITE_HIGH_WATER`
bytes unread misses ticks until it catches up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import struct

import structlog
from aiohttp import WSMsgType, web

from exchange_simulator.faults import WS_KINDS, FaultBook
from exchange_simulator.market import Tick
from exchange_simulator.ws_dialects import Topic, WsDialect

log = structlog.get_logger(__name__)
_MIN_SLEEP = 0.005
_PUSH_FAULTS = WS_KINDS - {"ws_reject"}
_REJECT = frozenset({"ws_reject"})
_TEXT_FIN = 0x81
_LENGTH_16, _LENGTH_64 = struct.Struct("!BBH"), struct.Struct("!BBQ")
_WRITE_HIGH_WATER = 4 * 2**20  # bytes queued for a slow reader before it misses ticks


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


class WsFeed:
    """One exchange's websocket feed: its route's handler and the loop that pushes every tick."""

    def __init__(self, dialect: WsDialect, faults: FaultBook, counters: WsCounters,
                 heartbeat: float | None) -> None:
        self.dialect = dialect
        self.faults = faults
        self.counters = counters
        self.heartbeat = heartbeat  # server pings every this many seconds (binance), or None
        self.sessions: set[WsSession] = set()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sim-ws-feed:{self.dialect.name}")

    async def close(self) -> None:
        for session in list(self.sessions):
            await session.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # No permessage-deflate: the real venues' public streams send plain text frames.
        ws = web.WebSocketResponse(compress=False, autoping=True, heartbeat=self.heartbeat)
        await ws.prepare(request)
        session = WsSession(self.dialect, ws, request.transport, self.faults, self.counters)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
        return ws

    async def _run(self) -> None:
        state = self.dialect.state
        while True:
            await asyncio.sleep(self._until_next_tick())
            if not self.sessions:
                continue
            try:
                state.advance()
                for session in list(self.sessions):
                    session.push_tick()
            except Exception:  # the loop's top: one bad tick must not end every connection's feed
                log.exception("ws_feed_tick_failed", exchange=self.dialect.name)

    def _until_next_tick(self) -> float:
        state = self.dialect.state
        now = state.clock()
        following = (math.floor(now / state.tick) + 1) * state.tick
        return max(_MIN_SLEEP, following - now + 0.001)


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
        self._sent: dict[str, Tick] = {}  # symbol -> the tick it was last sent in (bybit deltas)
        self._sent_ts = 0
        self._faulted: asyncio.Task | None = None  # a faulted tick still being sent (ws_slow), or a close

    async def run(self) -> None:
        name = self.dialect.name
        self.counters.connections[name] += 1
        self.counters.open[name] += 1
        try:
            await self._read()
        finally:
            self.counters.open[name] -= 1
            if self._faulted is not None:
                self._faulted.cancel()

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
    def push_tick(self) -> None:
        """This tick's due frames, unless the session has nothing to send, already sent this
        tick, is still sending a faulted one, or its reader is behind."""
        state = self.dialect.state
        if (not self.topics or state.ts == self._sent_ts or self.ws.closed
                or (self._faulted is not None and not self._faulted.done())):
            return
        transport = self.transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
            return
        fault = self.faults.ws_fault(_PUSH_FAULTS)
        if fault is not None and fault.kind == "ws_silence":
            return
        if fault is not None and fault.kind == "ws_close":
            self._faulted = asyncio.get_running_loop().create_task(
                self.ws.close(code=1011, message=b"simulated server close"), name=f"sim-ws-close:{self.dialect.name}")
            return
        frames = self._tick_frames()
        if fault is None:
            transport.write(text_frames(frames))
            self.counters.frames[self.dialect.name] += len(frames)
        else:
            self._faulted = asyncio.get_running_loop().create_task(
                self._send_faulted(frames, fault.kind, fault.latency), name=f"sim-ws-fault:{self.dialect.name}")

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

    def _tick_frames(self) -> list[bytes]:
        tick = self.dialect.state.quotes()
        self._sent_ts = self.dialect.state.ts
        return self.dialect.frames(tick, self._topics_due(self._sent_ts), self._sent)

    async def _send_faulted(self, frames: list[bytes], fault: str, latency: float) -> None:
        """A tick's frames one by one through aiohttp's writer: cut in half (`ws_malformed`), or
        each followed by `latency` seconds (`ws_slow`)."""
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
