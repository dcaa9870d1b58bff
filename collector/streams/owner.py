"""Streaming mode of one exchange: its websocket connections, conflation, watchdog, REST fallback.

The same owner for both decoders: a connection's session is ccxt pro's (`decoder: ccxt`,
ccxtpro.py) or the daemon's own socket (`decoder: native`, native.py, with the venue's decoders:
native_dialects.py); below, "ccxt pro parses" reads "the session parses" for the native one.
`StreamOwner.run()` owns one task per connection (connection.py), a sweep task, a fallback
task and a listings task, all in a TaskGroup. The sweep takes the entries ccxt pro parsed and
emits the records with something new (observations.py). Conflation happens before ccxt pro parses
(ccxtpro.py): each connection hands ccxt pro at most one frame per market and
`stream_interval` (the first of each interval of the exchange's clock; the newest of the others
only if no later one comes for an interval) and queues every entry ccxt pro parsed; the sweep,
every 50 ms, emits what was queued. So a symbol yields at most one record per kind and
interval, the record leaves within a sweep of its update, and with 0 every update is a record;
its `received_at` is when its frame came. A stop takes one last sweep into the pipeline before
the connections close: every kept frame and every record still waiting is written.
A record takes the fields other streams of the exchange carry (the dialect's fills: binance
bid/ask and mark/index) and its funding interval as it is emitted (merge.py). The same
sweep is the watchdog: a connection with no new data for `stream_stale_after` (plus its
channel's `quiet`), or half of whose symbols stopped advancing for that long, is torn down and
resubscribed with backoff. While any connection is not delivering, the exchange's stream is
down (state.py): REST polling (the exchange's own `ExchangeSource.poll`) covers that
connection's symbols, both kinds, every `ticker_interval`, and hands back once every connection
delivers again. One log line when the stream goes down (STREAM_001, or STREAM_002 for a rejected
subscription), one when it recovers. The listings task reloads the markets every `markets_ttl`:
a new listing gets connections of its own, a delisted symbol is no longer expected, and the ccxt
pro instances, which share the REST source's market tables, take the reloaded ones.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

import structlog
from ccxt.base import errors as ccxt_errors

from collector import metrics
from collector.config import ExchangeConfig, RetryConfig
from collector.errors import ErrorCode, one_line
from collector.exchanges.normalize import Normalizer
from collector.exchanges.observations import streamed
from collector.exchanges.source import ExchangeSource
from collector.records import Record
from collector.resilience.retry import RetryPolicy
from collector.runner import trim_heap
from collector.streams import ccxtpro_markets, report as stream_report
from collector.streams.connection import Connection
from collector.streams.dialects import DIALECTS, Channel, chunks
from collector.streams.merge import Merger
from collector.streams.native_dialects import NATIVE_DIALECTS
from collector.streams.sessions import Sessions
from collector.streams.state import StreamState
from collector.values import MalformedEntry

log = structlog.get_logger(__name__)

_SWEEP = 0.05  # seconds between sweeps (at most stream_interval)
_KIND = attrgetter("kind")


class StreamOwner:
    def __init__(self, source: ExchangeSource, config: ExchangeConfig, *, ticker_interval: float,
                 retry: RetryConfig, publish: Callable[[Sequence[Record]], object],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = source.name
        self.source = source
        # decoder: native opens the venue's websockets itself (native.py); ccxt watches through ccxt pro
        self.native = config.decoder == "native" and source.exchange_id in NATIVE_DIALECTS
        self.dialect = (NATIVE_DIALECTS if self.native else DIALECTS)[source.exchange_id]
        self._ticker_interval = ticker_interval
        self._interval = config.stream_interval
        self._stale_after = config.stream_stale_after
        self._backoff = RetryPolicy.from_config(retry)
        self._publish = publish
        self._clock = clock
        self._normalizer = Normalizer(source.name, source.exchange_id)
        self._merger = Merger(self.dialect, self._normalizer, stale_after=self._stale_after)
        self._last_ts: dict[tuple[str, str], int] = {}
        self._last: dict[tuple[str, str], Record] = {}  # the last streamed record per (kind, symbol); _last_ts: REST's
        self.connections: list[Connection] = []  # filled by run(), then extended and pruned in place
        self._session = Sessions(source, config, self.dialect, native=self.native, clock=clock)
        self._stream = StreamState(source, self.connections, emit=self._emit, ticker_interval=ticker_interval,
                                   stale_after=self._stale_after, clock=clock)
        self.updates = 0
        self.malformed = 0
        self.lag = stream_report.LagWatch(self.name, limit=self._stale_after)
        self._exporter = stream_report.Exporter(self.name, clock())

    @staticmethod
    def supports(exchange_id: str) -> bool:
        return exchange_id in DIALECTS

    # --- running -------------------------------------------------------------------------
    async def run(self) -> None:
        """Stream until cancelled."""
        await self._poll_until_markets()
        await self._learn_intervals()
        self.connections.extend(self._build_connections())
        self._merger.watch(self.connections)
        log.info("stream_starting", exchange=self.name, connections=len(self.connections),
                 symbols=len(self.source.symbols), stream_interval=self._interval)
        async with asyncio.TaskGroup() as group:
            for connection in self.connections:
                connection.task = group.create_task(connection.run(), name=f"stream:{connection.name}")
            group.create_task(self._sweep_loop(), name=f"stream:{self.name}:sweep")
            group.create_task(self._stream.fallback_loop(), name=f"stream:{self.name}:fallback")
            group.create_task(self._listings_loop(group), name=f"stream:{self.name}:listings")
            try:
                await asyncio.Event().wait()  # until the daemon stops
            finally:  # a stop writes what was received, before the connections close with what they keep
                await self._publish_streamed(self._take(self._clock(), final=True))

    async def _poll_until_markets(self) -> None:
        """Markets could not be loaded at start: REST collects (and retries the markets) until
        the symbols are known, then the streams open."""
        while not self.source.symbols:
            started = self._clock()
            for kind in ("ticker", "funding_rate"):
                await self._emit(await self.source.poll(kind))
            await asyncio.sleep(max(0.0, self._ticker_interval - (self._clock() - started)))

    async def _learn_intervals(self, symbols: set[str] | None = None) -> None:
        """Funding intervals where no frame carries them (of `symbols`, else all): the markets',
        or one REST round of funding rates (recorded like any other; the fallback's rounds
        refresh them)."""
        self._merger.learn_markets(self.source.exchange.markets or {})
        if self.dialect.rest_intervals:
            records = [r for r in await self.source.poll("funding_rate") if symbols is None or r.symbol in symbols]
            # the interval list, also of a listing the rates endpoint has no entry of yet (no record)
            self._merger.intervals.update(self.source.funding_intervals)
            for record in records:
                self._last_ts[(record.kind, record.symbol)] = record.ts
            await self._emit(records)

    async def _learn_missing_intervals(self) -> None:
        """Symbols whose interval the REST source could not give yet (its fundingInfo request
        failed): asked again at every markets reload until it does."""
        if self.dialect.rest_intervals:
            streamed = {s for c in self.connections for s in c.symbols}
            missing = self._merger.missing_intervals(streamed & self.source.symbols)
            if missing:
                await self._learn_intervals(missing)

    def _build_connections(self, symbols: list[str] | None = None, first: int = 0) -> list[Connection]:
        symbols = sorted(self.source.symbols) if symbols is None else symbols
        return [
            Connection(self.name, index, channel, part, session=self._session(channel, index),
                       on_change=self._connection_changed, backoff=self._backoff, clock=self._clock)
            for channel in self.dialect.channels
            for index, part in enumerate(chunks(symbols, self.dialect.symbols_per_connection), start=first)
        ]

    async def _listings_loop(self, group: asyncio.TaskGroup) -> None:
        """The markets, reloaded every `markets_ttl` as in poll mode: a new listing gets
        connections of its own (the others keep theirs), a delisted symbol is no longer expected."""
        period = max(1.0, min(self.source.markets_ttl, 60.0))  # the reload itself waits for the ttl
        while True:
            await asyncio.sleep(period)
            try:
                await self.source.refresh_markets()
                await self._learn_missing_intervals()  # first: a listing added now is asked below
                await self._follow_listings(group)
                # after: a new listing's interval is known before any frame of it is read
                if not self.native and ccxtpro_markets.share_markets(self.source, self.connections):
                    trim_heap()  # the tables they let go of were freed
            except ccxt_errors.BaseError:
                continue  # a failed reload keeps the last markets (logged by the source)
            except Exception as err:  # the streams go on; the traceback says what broke
                log.error("stream_listings_failed", exchange=self.name, error_code=ErrorCode.APP_002,
                          error=one_line(err), exc_info=err)

    async def _follow_listings(self, group: asyncio.TaskGroup) -> None:
        wanted = self.source.symbols
        streamed = {s for c in self.connections for s in c.symbols}
        added = sorted(wanted - streamed)
        if added:
            await self._learn_intervals(set(added))
            first = 1 + max(int(c.name.rsplit(":", 1)[1]) for c in self.connections)
            joining = self._build_connections(added, first)
            for connection in joining:
                connection.added = True
                connection.task = group.create_task(connection.run(), name=f"stream:{connection.name}")
            self.connections.extend(joining)
            self._merger.watch(self.connections)
            log.info("stream_symbols_added", exchange=self.name, symbols=added[:20], count=len(added),
                     connections=len(joining))
        gone = streamed - wanted
        if gone:
            for connection in [c for c in self.connections if gone & set(c.symbols)]:
                if not connection.forget(gone):
                    continue  # some of its symbols remain
                connection.task.cancel()  # nothing left to watch on it
                self.connections.remove(connection)
            self._merger.watch(self.connections)

    async def _emit(self, records: list[Record]) -> None:
        if records:
            self._merger.learn(records)
            result = self._publish(records)
            if inspect.isawaitable(result):
                await result  # the daemon's pipeline returns once they are journaled

    # --- records -------------------------------------------------------------------------
    def _collect(self, connection: Connection, entries, now: float, *, wait: bool = True) -> list[Record]:
        channel = connection.channel
        seen = connection.seen
        records: list[Record] = []
        for symbol, entry, received_at in entries:  # received_at: when its frame came
            if seen.get(symbol) is entry:
                continue
            if wait and not self._merger.ready(channel.kinds, symbol, now):
                connection.pending.append((symbol, entry, received_at))  # at a later sweep
                continue
            seen[symbol] = entry
            fresh = self._fresh(channel, entry, received_at)
            if fresh or not channel.kinds:  # a channel that only fills moves with every entry
                connection.moved(symbol, now)
                records.extend(fresh)
        self.updates += len(records)
        return self._merger.merge(records)

    def _fresh(self, channel: Channel, entry: Mapping[str, Any], received_at: int) -> list[Record]:
        """The entry's records that observe something new, under the `ts` they land with (observations.py)."""
        try:
            built = channel.build(self._normalizer, entry, received_at)
        except (MalformedEntry, KeyError, TypeError, AttributeError):
            self.malformed += 1
            metrics.records_skipped.labels(self.name, channel.kinds[0], "malformed").inc()
            return []
        return streamed(built, self._last, self._last_ts)

    # --- the sweep: conflation + watchdog ------------------------------------------------
    async def _sweep_loop(self) -> None:
        period = min(self._interval, _SWEEP) if self._interval else _SWEEP
        crashing = False
        while True:
            await asyncio.sleep(period)
            try:
                await self._sweep(self._clock())
                crashing = False
            except Exception as err:  # the sweep must go on; the traceback is logged once per streak
                if not crashing:
                    log.error("stream_sweep_crashed", exchange=self.name, error_code=ErrorCode.APP_002,
                              error=one_line(err), exc_info=err)
                crashing = True

    async def _sweep(self, now: float) -> None:
        records = self._take(now)
        for connection in self.connections:
            connection.check(now, self._stale_after)  # the watchdog
        if records:
            self.lag.note(records, stream_interval=self._interval, symbols=len(self.source.symbols))
        await self._publish_streamed(records)
        self._stream.update(now)
        self._exporter.export(self.state, self.connections, now, self.updates)

    def _take(self, now: float, *, final: bool = False) -> list[Record]:
        """The records of the entries queued since the last sweep. `final` (a stop): every frame
        a gate keeps is parsed first and no record waits for a filling stream any longer."""
        records: list[Record] = []
        for connection in self.connections:
            connection.release(now, everything=final)  # first: a record's fills read the other connections' caches
        for connection in self.connections:
            entries = connection.take()
            if entries:
                records.extend(self._collect(connection, entries, now, wait=not final))
        return records

    async def _publish_streamed(self, records: list[Record]) -> None:
        await self._emit(records)
        self.source.streamed(Counter(map(_KIND, records)))  # /health, records_collected, the summary line

    # --- state ------------------------------------------------------------------------
    def _connection_changed(self) -> None:
        """A connection came up or went down: the stream's state follows at once, not at the
        next sweep, so even a reconnect within one sweep is a down line and REST covers it."""
        self._stream.update(self._clock())

    @property
    def state(self) -> str:
        return self._stream.state

    # --- reporting -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {**self._stream.status(), **stream_report.connection_status(self.connections, self._clock()),
                "updates_per_s": round(self._exporter.updates_per_s, 1), "malformed_entries": self.malformed,
                **self.lag.status(), "stream_interval": self._interval, "stream_stale_after": self._stale_after}
