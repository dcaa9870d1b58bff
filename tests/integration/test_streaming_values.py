"""Streaming mode against the simulator's websockets (ccxt pro unmodified): what it records is
exactly what the simulator served at the frame's event time, for every symbol, and conflation
bounds how often."""

from __future__ import annotations

import asyncio
import collections
import time

import pytest

from collector.record_checks import validate
from collector.records import FundingRate, Ticker
from exchange_simulator import Simulator
from tests.support.collection import EXCHANGES, FUNDING_FIELDS, TICKER_FIELDS, decoders  # noqa: F401 (fixture)
from tests.support.streams import streaming, wait_until

# Each test runs once per decoder (native: the daemon's own websockets; ccxt: ccxt pro).
pytestmark = pytest.mark.usefixtures("decoders")

# binance's markPrice stream has no interest rate (REST premiumIndex has); ccxt pro watches
# neither okx's index-tickers for a swap nor its open-interest channel (TROUBLESHOOTING.md,
# "Differences from poll mode"). bybit's websocket rows carry the exchange's event time, so their
# tickers are checked against that very tick.
STREAM_TICKER_FIELDS = {**TICKER_FIELDS, "okx": [f for f in TICKER_FIELDS["okx"]
                                               if f[0] not in ("index_price", "open_interest")]}
STREAM_FUNDING_FIELDS = {**FUNDING_FIELDS, "binance": [f for f in FUNDING_FIELDS["binance"] if f[0] != "interest_rate"]}
# Ticker fields taken from another stream of the exchange (streams.dialects.Fill).
FILLED = {"binance": {"bid", "ask", "mark_price", "index_price"}, "bybit": set(), "okx": {"mark_price"}}
# Of those, the ones whose stream makes records of its own (binance markPrice: funding rates), so
# is conflated like them (merge.py): the fill reads the frame its conflation let through.
CONFLATED_FILLS = {"binance": {"mark_price", "index_price"}, "bybit": set(), "okx": set()}


def assert_streamed_as_served(sim: Simulator, record, *, fills_lag_since: int | None = None,
                              emitted_ms: int | None = None, stream_interval: float = 1.0) -> None:
    """Every field equals what was served in the tick the record names, but a filled one: that is
    the other stream's latest by the time the record was handed on (`emitted_ms`, else its
    receipt), so what was served for the symbol from the filling stream's push before the
    record's tick to then (`assert_filled_since`). With `fills_lag_since` (a filling stream was
    not delivering, or trickled, since then) a filled field is empty or what was served in some
    tick since then."""
    validate(record)
    fields = (STREAM_TICKER_FIELDS if isinstance(record, Ticker) else STREAM_FUNDING_FIELDS)[record.exchange]
    if isinstance(record, Ticker):
        fills_lag_since = record.ts if fills_lag_since is None else min(fills_lag_since, record.ts)
        lagging = [(f, q) for f, q in fields if f in FILLED[record.exchange]]
        fields = [pair for pair in fields if pair not in lagging]
        assert_filled_since(sim, record, lagging, fills_lag_since, emitted_ms or record.received_at,
                            stream_interval=stream_interval)
    quote = sim.served(EXCHANGES[record.exchange], record.symbol, record.ts)
    assert quote is not None, f"no tick stamped {record.ts} was served: {record}"
    mismatched = {f: (getattr(record, f), getattr(quote, q)) for f, q in fields if getattr(record, f) != getattr(quote, q)}
    assert not mismatched, f"{record.exchange} {record.symbol}: {mismatched}"


def assert_filled_since(sim: Simulator, record, fields, since_ms: int, until_ms: int, *,
                        stream_interval: float = 1.0) -> None:
    """A filled field is what was served in a tick from the filling stream's push before
    `since_ms` to `until_ms`. That push is a second before at most (binance pushes markPrice once
    a second, its ticker twice) or the tick before, whichever is earlier: the simulator's ticks
    come more than a second apart when its loop wakes late (1,027 to 1,069 ms on the loaded
    machine), and a record emitted before the filling socket's frame of its own tick was read
    keeps that earlier tick's value (merge.py: "can be one update apart"). A conflated fill
    (CONFLATED_FILLS) has the frame let through in the window of the exchange's clock holding
    that push, the window's first: up to one `stream_interval` older (two late ticks' frames can
    share a window, the second one kept)."""
    history = sim.history(EXCHANGES[record.exchange])
    before = max((ts for ts, _ in history if ts < since_ms), default=since_ms)
    start = min(since_ms - 1000, before)
    starts = {f: min(start, before - round(stream_interval * 1000)) if f in CONFLATED_FILLS[record.exchange] else start
              for f, _ in fields}
    served = {f: {getattr(quotes.get(record.symbol), name, None) for ts, quotes in history
                  if starts[f] <= ts <= until_ms} for f, name in fields}
    wrong = {f: getattr(record, f) for f, _ in fields
             if getattr(record, f) is not None and getattr(record, f) not in served[f]}
    served_in = {f: [ts for ts, quotes in history if getattr(quotes.get(record.symbol), name, None) == getattr(record, f)]
                 for f, name in fields if f in wrong}
    assert not wrong, (f"{record.exchange} {record.symbol}: filled with values not served from {starts} to {until_ms}: "
                       f"{wrong}, served in the ticks {served_in}; {record}; ticks {[ts for ts, _ in history if ts >= before - 3000]}")


async def test_three_exchanges_of_200_symbols_stream_tickers_and_funding_equal_to_what_was_served():
    async with Simulator(symbols=200, seed=11) as sim:
        async with streaming(sim, tuple(EXCHANGES), stream_interval=1.0) as (owners, records):
            await wait_until(lambda: all(o.state == "up" for o in owners), 20, "every stream up")
            up_ms = int(time.time() * 1000)
            await asyncio.sleep(3.5)
            statuses = {o.name: o.status() for o in owners}
    per_kind = collections.defaultdict(set)
    for record in records:
        assert_streamed_as_served(sim, record, emitted_ms=records.emitted_ms(record))
        per_kind[(record.exchange, record.kind)].add(record.symbol)
    # once the streams are up, every ticker has what the other streams fill
    unfilled = [(r.exchange, r.symbol, f) for r in records if isinstance(r, Ticker) and r.received_at > up_ms
                for f in FILLED[r.exchange] if getattr(r, f) is None]
    assert not unfilled, unfilled[:5]
    for name, ccxt_id in EXCHANGES.items():
        for kind in ("ticker", "funding_rate"):
            assert per_kind[(name, kind)] == set(sim.symbols(ccxt_id)), (name, kind)
        assert statuses[name]["fallbacks"] == 0 and statuses[name]["fallback_active"] is False
    # the venues' limits split the symbols: binance 3 channels x 1, bybit 1 x 1, okx 3 x 2 (100 each)
    assert {n: s["connections"] for n, s in statuses.items()} == {"binance": 3, "bybit": 1, "okx": 6}
    assert sim.ws_connections("okx") == 6 and sim.ws_connections("binanceusdm") == 3
    assert sim.request_count(path_contains="ticker") == 0  # no REST polling while streams are up
    assert all(isinstance(r, (Ticker, FundingRate)) for r in records)


async def test_conflation_emits_at_most_one_record_per_symbol_and_interval_and_zero_emits_every_update():
    async with Simulator(symbols=10, seed=12, tick=0.1) as sim:  # 10 updates/s per symbol
        async with streaming(sim, ("bybit",), stream_interval=1.0) as (owners, conflated):
            await wait_until(lambda: owners[0].state == "up", 20, "stream up")
            conflated.clear()
            await asyncio.sleep(4.0)
        async with streaming(sim, ("bybit",), stream_interval=0.0) as (owners, every):
            await wait_until(lambda: owners[0].state == "up", 20, "stream up")
            every.clear()
            await asyncio.sleep(4.0)
    for records in (conflated, every):
        for record in records:
            assert_streamed_as_served(sim, record, emitted_ms=records.emitted_ms(record))
    per_symbol = collections.Counter(r.symbol for r in conflated if r.kind == "ticker")
    assert len(per_symbol) == 10 and max(per_symbol.values()) <= 5  # 4 s at one per second (+1 edge)
    every_per_symbol = collections.Counter(r.symbol for r in every if r.kind == "ticker")
    # with 0 the owner takes what ccxt pro resolves and sweeps its cache 4 times a second
    assert min(every_per_symbol.values()) >= 12, every_per_symbol
    identities = [(r.kind, r.symbol, r.ts) for r in every]
    assert len(identities) == len(set(identities))  # never the same update twice


async def test_with_zero_a_channel_that_only_fills_is_parsed_when_read_not_frame_by_frame():
    # binance pushes bookTicker with every tick and the ticker every 500 ms: at stream_interval 0
    # every ticker is recorded, with the newest bid/ask, but the bookTicker frames between two
    # tickers are not parsed one by one (ccxt pro's parse is nearly all of a stream's CPU).
    async with Simulator(symbols=10, seed=13, tick=0.1) as sim:
        async with streaming(sim, ("binance",), stream_interval=0.0) as (owners, records):
            await wait_until(lambda: owners[0].state == "up", 20, "stream up")
            up_ms = int(time.time() * 1000)
            await asyncio.sleep(4.0)
            gates = {c.channel.name: c.gate for c in owners[0].connections}
            passed = {name: gate.passed for name, gate in gates.items()}
    tickers = [r for r in records if isinstance(r, Ticker) and r.received_at > up_ms]
    for record in tickers:
        assert_streamed_as_served(sim, record, emitted_ms=records.emitted_ms(record))
        assert record.bid is not None and record.ask is not None
    per_symbol = collections.Counter(r.symbol for r in tickers)
    assert len(per_symbol) == 10 and min(per_symbol.values()) >= 6  # 4 s of tickers every 500 ms
    # frame by frame, bookTicker would be parsed five times as often as the ticker
    assert passed["book_ticker"] < 3 * passed["ticker"], passed
