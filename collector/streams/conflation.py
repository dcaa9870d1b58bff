"""Conflation: the frames of one connection, at most one handled per market, channel and
`stream_interval`, shared by both decoders (ccxt pro's gate in ccxtpro.py, native.py).

- the first data frame of a market (the dialect's `frame_ident`: market id and exchange time) in
  each `interval` of the exchange's clock (windows from the epoch, shifted by a hash of the
  market id: two daemons keep the same updates, and the markets of one tick are spread over the
  interval) is handled at once (`handle`: parsed into the connection's latest entry of the
  market), so the record leaves within one sweep of the update (a frame without an exchange
  time: an interval after the last one went through);
- a data frame within the interval is kept, the newest per market (a bybit delta is merged into
  the one kept, `frame_merge`); the next frame due takes its place, and if none comes for an
  interval `release(now)` at the sweep hands it over;
- `flush(market)` hands a kept frame over at once, for a record about to read it.
Each data frame's arrival (UTC ms) goes with it to the queue (`parsed`): a record's
`received_at` is when its frame came, however long it was kept. With an interval of 0 every
frame is handled at once. Either way the entry each handled frame made is queued, so the owner
takes every entry, not just the latest.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

FrameIdent = Callable[[Mapping[str, Any]], tuple[str, int | None] | None]  # (market id, exchange ms)
FrameMerge = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]
Handle = Callable[[Any, Mapping[str, Any]], Any]  # (client, frame): parses it into the latest entries
EntryOf = Callable[[str], Any]  # symbol -> its latest entry (None: none)

# A market's state, a list: the window of its last frame through; the kept frame, (client, frame,
# window, arrival ms) or None; when it was kept; its phase (ms); when its last frame went through.
_WINDOW, _KEPT, _SINCE, _PHASE, _PASSED = range(5)


class Conflation:
    def __init__(self, ident: FrameIdent, merge: FrameMerge | None, interval: float,
                 clock: Callable[[], float], *, symbols: Mapping[str, str], handle: Handle, entry: EntryOf,
                 parsed: list[tuple[str, Any, int]], unreadable: Callable[[Exception], None]) -> None:
        self._ident = ident
        self._merge = merge
        self._interval = interval
        self._interval_ms = max(1, round(interval * 1000))
        self._every = interval <= 0  # stream_interval 0: every frame goes through
        self._clock = clock
        self._symbols = symbols  # market id -> symbol
        self._markets_of = {symbol: market for market, symbol in symbols.items()}
        self._handle = handle
        self._entry = entry
        self._parsed = parsed  # (symbol, entry, arrival ms) of every frame handled, for the sweep
        self._unreadable = unreadable  # a kept frame that could not be handled at a release
        self._markets: dict[str, list] = {}
        self.passed = 0  # data frames handled

    def offer(self, market: str, at: Any, client: Any, message: Mapping[str, Any], arrived: int) -> None:
        """One data frame of `market` at exchange time `at`: handled now, or kept."""
        # One frame of possibly thousands a second: kept to a few list and dictionary operations.
        if self._every:  # stream_interval 0: every frame goes through now; no window, nothing kept
            self._hand_over(market, client, message, arrived)
            return
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
            due = state[_WINDOW] is None or window > state[_WINDOW]
            now = None
        else:
            window, now = None, self._clock()
            due = state[_PASSED] is None or now - state[_PASSED] >= self._interval
        if due:
            self._pass(market, state, client, message, window, now, arrived)
        else:
            state[_KEPT] = (client, message, window, arrived)
            state[_SINCE] = self._clock() if now is None else now

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
        channel that only fills other records, such as binance's bookTicker). A frame that cannot
        be handled is reported (`unreadable`: STREAM_003) and dropped; the others still go through."""
        state = self._markets.get(market)
        if state is None or state[_KEPT] is None:
            return
        client, message, window, arrived = state[_KEPT]
        state[_KEPT] = None
        try:
            self._pass(market, state, client, message, window, now, arrived)
        except Exception as err:  # noqa: BLE001 - one unreadable frame must not stop the others
            self._unreadable(err)

    def flush_symbol(self, symbol: str) -> None:
        market = self._markets_of.get(symbol)
        if market is not None:
            self.flush(market)

    def _pass(self, market: str, state: list, client: Any, message: Mapping[str, Any], window: int | None,
              now: float | None, arrived: int) -> None:
        if window is not None:
            state[_WINDOW] = window
        state[_PASSED] = self._clock() if now is None else now
        self._hand_over(market, client, message, arrived)

    def _hand_over(self, market: str, client: Any, message: Mapping[str, Any], arrived: int) -> None:
        self.passed += 1
        self._handle(client, message)
        symbol = self._symbols.get(market)
        if symbol is not None:
            entry = self._entry(symbol)
            if entry is not None:
                self._parsed.append((symbol, entry, arrived))
