"""Conflation in front of ccxt pro: the frames of one connection, at most one parsed per market,
channel and `stream_interval`.

Parsing is nearly all of a stream's CPU (ccxt pro's parse_ticker does string arithmetic on every
field), and at 10 updates/s per symbol nine parses in ten would feed records the conflation then
throws away. So `FrameGate` takes ccxt pro's message handler's place on its instance:
- the first data frame of a market (the dialect's `frame_ident`: market id and exchange time) in
  each `interval` of the exchange's clock (windows from the epoch, shifted by a hash of the
  market id: two daemons keep the same updates, and the markets of one tick are spread over the
  interval) goes through at once, and ccxt pro parses it into its cache as it would have:
  the record leaves within one sweep of the update (a frame without an exchange time: an
  interval after the last one went through);
- a data frame within the interval is kept, the newest per market (a bybit delta is merged into
  the one kept, `frame_merge`, as ccxt pro would merge it into its entry); the next frame due
  takes its place, and if none comes for an interval `release(now)` at the sweep hands it over;
- `flush(market)` hands a kept frame over at once, for a record about to read it;
- everything else (acks, pongs, errors, frames of no known shape) goes through untouched.
Each data frame's arrival (ccxt pro's client notes it, `last_message_at`, UTC ms) goes with it to
the queue: a record's `received_at` is when its frame came, however long the gate kept it.
Values are ccxt pro's own parse of what the venue sent; only parses nobody would read are saved.
With an interval of 0 every frame goes through at once (the owner gives a channel that only fills
other records an interval of a second at least: its kept frame is parsed when a record reads
it). Either way the entry ccxt pro made of each frame it parsed is queued (`parsed`), so the
owner takes every entry, not just the latest.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

FrameIdent = Callable[[Mapping[str, Any]], tuple[str, int | None] | None]  # (market id, exchange ms)
FrameMerge = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]


# A market's state in the gate, a list: the window of its last frame through; the kept frame,
# (client, frame, window, arrival ms) or None; when it was kept; its phase (ms); when its last frame went through.
_WINDOW, _KEPT, _SINCE, _PHASE, _PASSED = range(5)


class FrameGate:
    def __init__(self, exchange: Any, ident: FrameIdent, merge: FrameMerge | None, interval: float,
                 clock: Callable[[], float], *, symbols: Mapping[str, str], cache: str,
                 parsed: list[tuple[str, Any, int]]) -> None:
        self._exchange = exchange
        self._handle = exchange.handle_message  # ccxt pro's own: its clients are made with ours
        exchange.handle_message = self._on_message
        self._ident = ident
        self._merge = merge
        self._interval = interval
        self._interval_ms = max(1, round(interval * 1000))
        self._every = interval <= 0  # stream_interval 0: every frame goes through
        self._clock = clock
        self._symbols = symbols  # market id -> symbol
        self._cache = cache  # the ccxt pro attribute its entries go to
        self._parsed = parsed  # (symbol, entry, arrival ms) of every frame ccxt pro parsed, for the sweep
        self._markets: dict[str, list] = {}
        self.passed = 0  # data frames handed to ccxt pro

    def _on_message(self, client: Any, message: Any) -> Any:
        # One frame of possibly thousands a second: kept to a few list and dictionary operations.
        ident = self._ident(message) if type(message) is dict else None
        if ident is None:
            return self._handle(client, message)
        market, at = ident
        arrived = getattr(client, "last_message_at", None) or int(time.time() * 1000)
        state = self._markets.get(market)
        if state is None:
            state = self._markets[market] = [None, None, 0.0, zlib.crc32(market.encode()) % self._interval_ms, None]
        kept = state[_KEPT]
        if kept is not None:
            state[_KEPT] = None
            if self._merge is not None:
                message = self._merge(kept[1], message)
        # Due with the first frame of a new interval of the exchange's own clock (windows from the
        # epoch, shifted per market: two daemons pass the same frames, so their records share
        # identities, and the markets of one tick do not all come due at once); a frame without
        # an exchange time, an interval after the market's last one went through.
        if type(at) is int:
            window = (at + state[_PHASE]) // self._interval_ms
            due = self._every or state[_WINDOW] is None or window > state[_WINDOW]
            now = None
        else:
            window, now = None, self._clock()
            due = self._every or state[_PASSED] is None or now - state[_PASSED] >= self._interval
        if due:
            self._pass(market, state, client, message, window, now, arrived)
        else:
            state[_KEPT] = (client, message, window, arrived)
            state[_SINCE] = self._clock() if now is None else now
        return None

    def release(self, now: float, *, everything: bool = False) -> None:
        """At the sweep: a kept frame no newer frame followed for an interval goes through (the
        market went quiet; its last update must not wait for the next); with `everything` (a
        stop) every kept frame."""
        due = now if everything else now - self._interval
        for market, state in self._markets.items():
            if state[_KEPT] is not None and state[_SINCE] <= due:
                self.flush(market, now)

    def flush(self, market: str, now: float | None = None) -> None:
        """The market's kept frame goes through now: a record about to be emitted reads it (a
        channel that only fills other records, such as binance's bookTicker). A frame ccxt pro
        cannot parse is reported as its own would be (the loop's exception handler: STREAM_003)
        and dropped; the others still go through."""
        state = self._markets.get(market)
        if state is None or state[_KEPT] is None:
            return
        client, message, window, arrived = state[_KEPT]
        state[_KEPT] = None
        try:
            self._pass(market, state, client, message, window, now, arrived)
        except Exception as err:  # noqa: BLE001 - one unreadable frame must not stop the others
            asyncio.get_running_loop().call_exception_handler(
                {"message": "ccxt pro could not handle a stream frame", "exception": err})

    def _pass(self, market: str, state: list, client: Any, message: Mapping[str, Any], window: int | None,
              now: float | None, arrived: int) -> None:
        if window is not None:
            state[_WINDOW] = window
        state[_PASSED] = self._clock() if now is None else now
        self.passed += 1
        self._handle(client, message)
        symbol = self._symbols.get(market)
        if symbol is not None:
            entry = (getattr(self._exchange, self._cache, None) or {}).get(symbol)
            if entry is not None:
                self._parsed.append((symbol, entry, arrived))
