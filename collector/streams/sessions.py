"""The session of each stream connection, for the owner's decoder: ccxt pro's, or the daemon's own socket.

`decoder: ccxt` gives a CcxtProSession (ccxtpro.py) with a FrameGate that conflates frames before
ccxt pro parses them; `decoder: native` a NativeSession (native.py) on the venue's wire
(native_dialects.py) with a Conflation gate. Either gate hands on at most one frame per market and
`stream_interval` of the exchange's clock, except that a channel that only fills other records
(binance bookTicker, okx mark-price) is parsed when a record reads it (Merger: the kept frame
first), so even with `stream_interval: 0` it is not parsed frame by frame: once per `FILL_EVERY`
at least keeps the watchdog's view of it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from collector.config import ExchangeConfig
from collector.exchanges.source import ExchangeSource
from collector.streams import ccxtpro_markets
from collector.streams.ccxtpro import CcxtProSession, FrameGate
from collector.streams.conflation import Conflation
from collector.streams.connection import Session
from collector.streams.dialects import Channel, StreamDialect
from collector.streams.native import BadFrames, NativeSession
from collector.streams.native_dialects import WIRES

FILL_EVERY = 1.0  # seconds: a channel that only fills is parsed at least this often


class Sessions:
    """`sessions(channel, index)` -> the session of that connection."""

    def __init__(self, source: ExchangeSource, config: ExchangeConfig, dialect: StreamDialect, *,
                 native: bool, clock: Callable[[], float]) -> None:
        self._source = source
        self._name = source.name
        self._dialect = dialect
        self._native = native
        self._interval = config.stream_interval
        self._clock = clock
        self._open_exchange = partial(ccxtpro_markets.open_instance, source, config)

    def __call__(self, channel: Channel, index: int) -> Session:
        if not self._native:
            return CcxtProSession(self._open_exchange, self._gate(channel))
        wire = WIRES[self._source.exchange_id]
        configured = (getattr(self._source.exchange, "urls", None) or {}).get("api", {}).get("ws")
        gate = partial(Conflation, self._dialect.frame_ident, self._dialect.frame_merge, self.interval_of(channel),
                       self._clock)
        return NativeSession(wire, wire.url(configured, channel.name), ident=self._dialect.frame_ident, gate=gate,
                             market_ids=self._market_ids, bad=BadFrames(f"{self._name}:{channel.name}:{index}"))

    def interval_of(self, channel: Channel) -> float:
        return self._interval if channel.kinds else max(self._interval, FILL_EVERY)

    def _market_ids(self, symbols: tuple[str, ...]) -> dict[str, str]:
        """Market id -> symbol of `symbols`, from the REST source's loaded markets."""
        markets = self._source.exchange.markets or {}
        return {markets[s]["id"]: s for s in symbols if s in markets}

    def _gate(self, channel: Channel) -> Callable[..., FrameGate]:
        """The gate factory of `channel`'s ccxt pro connections."""
        return partial(FrameGate, ident=self._dialect.frame_ident, merge=self._dialect.frame_merge,
                       interval=self.interval_of(channel), clock=self._clock)
