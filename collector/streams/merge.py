"""One stream record from several streams: the dialect's `Fill`s and the funding interval.

A record built from one channel's entry (a binance ticker from the `ticker` stream) takes the
fields still empty from the latest entry of its symbol on the channels that fill it (bid/ask from
`bookTicker`, mark/index from `markPrice`), when it is emitted: at the sweep, or at once with
`stream_interval: 0`. As in poll mode, the record keeps its own channel's time (its identity);
the filled values are the newest the other stream gave by then, which can be one update apart.
Right after the filling connection (re)connects, a record waits for its symbol's first entry
there, at most half of `stream_stale_after` (a record should not come later than a silent
stream is noticed: the watchdog judges the filling connection after the whole of it); its
`received_at` stays when its frame came. A filling stream that is not delivering leaves its
fields empty, as a failed later part does in poll mode.

Funding intervals change rarely and few frames carry them: a funding rate without one takes the
interval last known for its symbol, from the market (bybit's instruments-info), from the REST
source's funding rates (binance fundingInfo, whose documented 8 h default for a symbol it leaves
out holds only once that list came). A symbol whose interval is not known yet gets none rather
than a guess, and `missing_intervals` tells the stream to ask again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from collector.exchanges.normalize import Normalizer
from collector.records import FundingRate, Record
from collector.streams.connection import Connection
from collector.streams.dialects import StreamDialect
from collector.values import MalformedEntry


class Merger:
    def __init__(self, dialect: StreamDialect, normalizer: Normalizer, *, stale_after: float) -> None:
        self._dialect = dialect
        self._wait = stale_after / 2  # see the module's docstring
        self._normalizer = normalizer
        self._sources: dict[tuple[str, str], Connection] = {}  # (channel name, symbol) -> connection
        self.intervals: dict[str, float] = {}  # symbol -> funding interval in hours

    def watch(self, connections: Iterable[Connection]) -> None:
        """The connections whose caches the fills read."""
        filling = {fill.channel for fill in self._dialect.fills}
        self._sources = {(c.channel.name, symbol): c for c in connections
                         if c.channel.name in filling for symbol in c.symbols}

    def learn_markets(self, markets: Mapping[str, Mapping[str, Any]]) -> None:
        read = self._dialect.market_interval
        if read is None:
            return
        for symbol, market in markets.items():
            try:
                hours = read(market)
            except (MalformedEntry, AttributeError, TypeError):
                continue
            if hours:
                self.intervals[symbol] = hours

    def learn(self, records: Sequence[Record]) -> None:
        """The intervals the REST source's funding rates carry."""
        for record in records:
            if isinstance(record, FundingRate) and record.funding_interval_hours:
                self.intervals[record.symbol] = record.funding_interval_hours

    def missing_intervals(self, symbols: Iterable[str]) -> set[str]:
        return {symbol for symbol in symbols if symbol not in self.intervals}

    def ready(self, kinds: tuple[str, ...], symbol: str, now: float) -> bool:
        """False while a connection filling these kinds is in a fresh session (younger than the
        wait) and has no entry of `symbol` yet: the record is taken at a later sweep."""
        for fill in self._dialect.fills:
            if fill.kind not in kinds:
                continue
            connection = self._sources.get((fill.channel, symbol))
            if (connection is not None and connection.exchange is not None
                    and now - connection.session_started < self._wait
                    and symbol not in connection.entries()):
                return False
        return True

    def merge(self, records: list[Record]) -> list[Record]:
        return [self._merged(record) for record in records]

    def _merged(self, record: Record) -> Record:
        values: dict[str, Any] = {}
        for fill in self._dialect.fills:
            if fill.kind != record.kind:
                continue
            entry = self._entry(fill.channel, record.symbol)
            if entry is None:
                continue
            try:
                read = fill.read(self._normalizer, entry)
            except (MalformedEntry, KeyError, TypeError, AttributeError):
                continue
            for field, value in read.items():
                if value is not None and getattr(record, field) is None and field not in values:
                    values[field] = value
        if isinstance(record, FundingRate) and record.funding_interval_hours is None:
            hours = self.intervals.get(record.symbol)
            if hours is not None:
                values["funding_interval_hours"] = hours
        return record.replaced(values) if values else record

    def _entry(self, channel: str, symbol: str) -> Mapping[str, Any] | None:
        connection = self._sources.get((channel, symbol))
        if connection is None:
            return None
        # a channel that only fills is read fresh (its kept frame parsed now); one with records
        # of its own keeps its conflation (binance markPrice: once per stream_interval)
        entry = connection.entries().get(symbol) if connection.channel.kinds else connection.latest(symbol)
        return entry if isinstance(entry, Mapping) else None
