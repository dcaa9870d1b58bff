"""Conflation in front of ccxt pro: the frames of one connection, at most one parsed per market,
channel and `stream_interval`.

Parsing is nearly all of a stream's CPU (ccxt pro's parse_ticker does string arithmetic on every
field), and at 10 updates/s per symbol nine parses in ten would feed records the conflation then
throws away. So `FrameGate` takes ccxt pro's message handler's place on its instance:
- the first data frame of a market (the dialect's `frame_ident`: market id and exchange time) in
  each `interval` of the exchange's clock (windows aligned to the epoch, so two daemons keep the
  same updates) goes through at once, and ccxt pro parses it into its cache as it would have:
  the record leaves within one sweep of the update (a frame without an exchange time: an
  interval after the last one went through);
- a data frame within the interval is kept, the newest per market (a bybit delta is merged into
  the one kept, `frame_merge`, as ccxt pro would merge it into its entry); the next frame due
  takes its place, and if none comes for an interval `release(now)` at the sweep hands it over;
- `flush(market)` hands a kept frame over at once, for a record about to read it;
- everything else (acks, pongs, errors, frames of no known shape) goes through untouched.
Values are ccxt pro's own parse of what the venue sent; only parses nobody would read are saved.
With `stream_interval: 0` every frame goes through at once. Either way `on_parsed(market)` is
told of each frame ccxt pro parsed, so the owner takes every entry, not just the latest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

FrameIdent = Callable[[Mapping[str, Any]], tuple[str, int | None] | None]  # (market id, exchange ms)
FrameMerge = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]


class FrameGate:
    def __init__(self, exchange: Any, ident: FrameIdent, merge: FrameMerge | None, interval: float,
                 clock: Callable[[], float], on_parsed: Callable[[str], None]) -> None:
        self._handle = exchange.handle_message  # ccxt pro's own: its clients are made with ours
        exchange.handle_message = self._on_message
        self._on_parsed = on_parsed  # told the market id of every frame ccxt pro has parsed
        self._ident = ident
        self._merge = merge
        self._interval = interval
        self._interval_ms = max(1, round(interval * 1000))
        self._every = interval <= 0  # stream_interval 0: every frame goes through
        self._clock = clock
        self._passed: dict[str, tuple[float, int | None]] = {}  # market -> (when, exchange time) of its last
        self._kept: dict[str, tuple[Any, Mapping[str, Any], float, int | None]] = {}  # (client, frame, since, at)
        self.frames = 0  # data frames received
        self.parsed = 0  # data frames handed to ccxt pro

    def _on_message(self, client: Any, message: Any) -> Any:
        # One frame of possibly thousands a second: kept to a few dictionary operations.
        ident = self._ident(message) if type(message) is dict else None
        if ident is None:
            return self._handle(client, message)
        market, at = ident
        self.frames += 1
        now = self._clock()
        if self._kept:
            kept = self._kept.pop(market, None)
            if kept is not None and self._merge is not None:
                message = self._merge(kept[1], message)
        # Due with the first frame of a new interval of the exchange's own clock (windows from the
        # epoch: two daemons pass the same frames, so their records share identities), or an
        # interval after the last one went through for a frame without an exchange time.
        last = None if self._every else self._passed.get(market)
        if self._every or last is None:
            due = True
        elif type(at) is int and last[1] is not None:
            due = at // self._interval_ms > last[1] // self._interval_ms
        else:
            due = now - last[0] >= self._interval
        if due:
            self._pass(market, client, message, now, at)
        else:
            self._kept[market] = (client, message, now, at)
        return None

    def release(self, now: float) -> None:
        """At the sweep: a kept frame no newer frame followed for an interval goes through (the
        market went quiet; its last update must not wait for the next). A frame ccxt pro cannot
        parse is reported as its own would be (the loop's exception handler: STREAM_003) and
        dropped; the others still go through."""
        due = now - self._interval
        for market in [m for m, (_, _, since, _) in self._kept.items() if since <= due and self._passed[m][0] <= due]:
            self.flush(market, now)

    def flush(self, market: str, now: float | None = None) -> None:
        """The market's kept frame goes through now: a record about to be emitted reads it (a
        channel that only fills other records, such as binance's bookTicker)."""
        kept = self._kept.pop(market, None)
        if kept is None:
            return
        client, message, _, at = kept
        try:
            self._pass(market, client, message, self._clock() if now is None else now, at)
        except Exception as err:  # noqa: BLE001 - one unreadable frame must not stop the others
            asyncio.get_running_loop().call_exception_handler(
                {"message": "ccxt pro could not handle a stream frame", "exception": err})

    def _pass(self, market: str, client: Any, message: Mapping[str, Any], now: float, at: int | None) -> None:
        self._passed[market] = (now, at)
        self.parsed += 1
        self._handle(client, message)
        self._on_parsed(market)
