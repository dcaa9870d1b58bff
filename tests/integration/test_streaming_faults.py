"""Streaming through the simulator's websocket faults (ccxt pro unmodified): each fault is
detected within `stream_stale_after`, REST polling fills the gap, the stream resumes by itself,
no symbol goes without a record for longer than `ticker_interval + stream_stale_after`, and the
log says it once going down and once coming back."""

from __future__ import annotations

import asyncio
import collections
import gc
import time

import pytest
from structlog.testing import capture_logs

from collector import metrics
from exchange_simulator import Simulator
from tests.support.collection import EXCHANGES, assert_served, decoders  # noqa: F401 (fixture)
from tests.integration.test_streaming_values import assert_streamed_as_served
from tests.support.streams import streaming, wait_until

# Each test runs once per decoder (native: the daemon's own websockets; ccxt: ccxt pro).
pytestmark = pytest.mark.usefixtures("decoders")

TICKER_INTERVAL = 1.0
STALE_AFTER = 2.0
STREAM_INTERVAL = 0.5
# What a loaded 2-core machine adds on top of the bound: a sweep period, a simulator tick, a poll.
SLACK = 1.5
BOUND_MS = (TICKER_INTERVAL + STALE_AFTER + SLACK) * 1000
FAULT_SECONDS = 6.0  # longer than the bound: without REST the gap would show

FAULTS = [
    ("binance", "ws_close", {}, "STREAM_001"),
    ("bybit", "ws_silence", {}, "STREAM_001"),
    ("okx", "ws_silence", {}, "STREAM_001"),
    ("okx", "ws_slow", {"latency": 0.5}, "STREAM_001"),
    ("binance", "ws_malformed", {}, "STREAM_001"),
    ("bybit", "ws_malformed", {}, "STREAM_001"),
]


def assert_recorded_as_served(sim: Simulator, record, rest: set, fault_ms: tuple[int, int],
                              emitted_ms: int | None = None) -> None:
    """REST-fallback records equal what was served as poll-mode records do (merged from several
    responses, which can straddle a tick); streamed ones equal the tick they name, the fields
    another stream fills empty or lagging (an earlier tick's) only while the stream was not up."""
    if identity(record) in rest:
        assert_served(sim, record)
    else:
        during_fault = fault_ms[0] <= record.received_at <= fault_ms[1]
        assert_streamed_as_served(sim, record, fills_lag_since=fault_ms[0] if during_fault else None,
                                  emitted_ms=emitted_ms, stream_interval=STREAM_INTERVAL)


def identity(record) -> tuple:
    return record.kind, record.symbol, record.ts, record.received_at


def record_rest(owner, rest: set) -> None:
    """Note the identities of the records the owner's REST fallback polls return."""
    poll = owner.source.poll

    async def recorded(kind):
        records = await poll(kind)
        rest.update(identity(r) for r in records)
        return records

    owner.source.poll = recorded


def events(logs: list[dict], name: str, exchange: str) -> list[dict]:
    return [e for e in logs if e["event"] == name and e.get("exchange") == exchange]


def assert_no_gap_longer_than_the_bound(records, since_ms: int, until_ms: int) -> None:
    times = collections.defaultdict(list)
    for record in records:
        times[(record.kind, record.symbol)].append(record.received_at)
    for key, stamps in times.items():
        stamps = [since_ms, *sorted(t for t in stamps if since_ms <= t <= until_ms), until_ms]
        gap = max(b - a for a, b in zip(stamps, stamps[1:]))
        assert gap <= BOUND_MS, f"{key}: {gap} ms without a record (bound {BOUND_MS:.0f} ms)"


async def _through_fault(sim, name, kind, settings, *, fault_seconds: float):
    ccxt_id = EXCHANGES[name]
    async with streaming(sim, (name,), ticker_interval=TICKER_INTERVAL, stream_interval=STREAM_INTERVAL,
                         stream_stale_after=STALE_AFTER) as ([owner], records):
        rest: set = set()
        record_rest(owner, rest)
        await wait_until(lambda: owner.state == "up", 20, "stream up")
        up_ms = int(time.time() * 1000)
        rest_before = sim.request_count(ccxt_id)
        sim.set_fault(ccxt_id, kind, **settings)
        fault_ms = int(time.time() * 1000)
        fault_at = time.monotonic()
        down_at = await wait_until(lambda: owner.state == "down", STALE_AFTER + 10, "stream down")
        down_ms = int(time.time() * 1000)
        await asyncio.sleep(fault_seconds)
        assert owner.status()["fallback_active"] is True
        sim.clear_faults(ccxt_id)
        cleared_ms = int(time.time() * 1000)
        await wait_until(lambda: owner.state == "up", 20, "stream recovered")
        recovered_ms = int(time.time() * 1000)
        await asyncio.sleep(1.0)
        end_ms = int(time.time() * 1000)
        status = owner.status()
    in_gap = collections.Counter((r.kind, r.symbol) for r in records if down_ms <= r.received_at <= cleared_ms)
    return records, down_at - fault_at, up_ms, end_ms, in_gap, status, rest, (fault_ms, recovered_ms)


@pytest.mark.parametrize(("name", "kind", "settings", "code"), FAULTS, ids=[f"{n}-{k}" for n, k, _, _ in FAULTS])
async def test_a_stream_fault_is_detected_covered_by_rest_and_recovered_with_one_line_each(name, kind, settings, code):
    async with Simulator(symbols=30, seed=21, tick=0.5) as sim:
        with capture_logs() as logs:
            records, detected_s, up_ms, end_ms, in_gap, status, rest, fault_window = await _through_fault(
                sim, name, kind, settings, fault_seconds=FAULT_SECONDS)
    # detected within stream_stale_after (plus one sweep and a tick of the simulator's clock)
    assert detected_s <= STALE_AFTER + STREAM_INTERVAL + 1.0, detected_s
    # REST polling took over: every symbol's ticker and funding rate, every ticker_interval
    expected = {(k, s) for k in ("ticker", "funding_rate") for s in sim.symbols(EXCHANGES[name])}
    assert set(in_gap) == expected
    assert min(in_gap.values()) >= FAULT_SECONDS / TICKER_INTERVAL - 2, min(in_gap.values())
    assert status["fallbacks"] == 1 and status["reconnects"] >= 1 and status["state"] == "up"
    assert_no_gap_longer_than_the_bound(records, up_ms, end_ms)
    for record in records:
        assert_recorded_as_served(sim, record, rest, fault_window, records.emitted_ms(record))
    down, recovered = events(logs, "stream_down", name), events(logs, "stream_recovered", name)
    assert len(down) == 1 and len(recovered) == 1, [e["event"] for e in logs if "stream" in e["event"]]
    assert down[0]["error_code"] == code and down[0]["log_level"] == "warning"
    assert recovered[0]["log_level"] == "info"


async def test_rejected_subscriptions_leave_the_exchange_on_rest_until_accepted_then_stream_again():
    async with Simulator(symbols=30, seed=22, tick=0.5) as sim:
        sim.set_fault("bybit", "ws_reject")
        with capture_logs() as logs:
            async with streaming(sim, ("bybit",), ticker_interval=TICKER_INTERVAL, stream_interval=STREAM_INTERVAL,
                                 stream_stale_after=STALE_AFTER) as ([owner], records):
                started_ms = int(time.time() * 1000)
                await wait_until(lambda: owner.state == "down", 10, "stream down")
                await wait_until(lambda: sim.fault_count("bybit", "ws_reject") >= 2
                                 and {r.symbol for r in records if r.received_at >= started_ms and r.kind == "ticker"}
                                 == set(sim.symbols("bybit")), 3.0, "every symbol polled, rejected again")
                sim.clear_faults("bybit")
                await wait_until(lambda: owner.state == "up", 20, "stream up")
    assert sim.fault_count("bybit", "ws_reject") >= 2  # resubscribed with backoff, rejected again
    down = events(logs, "stream_down", "bybit")
    assert len(down) == 1 and down[0]["error_code"] == "STREAM_002", down
    assert len(events(logs, "stream_recovered", "bybit")) == 1


async def test_okx_funding_rates_pushed_every_30_s_keep_their_connection_up():
    """okx pushes `funding-rate` only every 30-90 s (the simulator does as the venue): the watchdog
    gives that channel its quiet on top of `stream_stale_after` instead of tearing it down."""
    async with Simulator(symbols=30, seed=23, tick=0.5) as sim:
        with capture_logs() as logs:
            async with streaming(sim, ("okx",), ticker_interval=TICKER_INTERVAL, stream_interval=STREAM_INTERVAL,
                                 stream_stale_after=STALE_AFTER) as ([owner], records):
                await wait_until(lambda: owner.state == "up", 20, "stream up")
                await asyncio.sleep(3 * STALE_AFTER)
                status = owner.status()
    assert status["state"] == "up" and status["reconnects"] == 0 and status["fallbacks"] == 0
    assert not events(logs, "stream_down", "okx")
    funding = [r for r in records if r.kind == "funding_rate"]
    assert {r.symbol for r in funding} == set(sim.symbols("okx"))  # pushed on subscribing
    # ...and then on the market clock's 30 s windows, as okx does: within this run's few seconds
    # at most one window boundary, so a symbol has one or two, never a push per tick.
    per_symbol = collections.Counter(r.symbol for r in funding)
    assert max(per_symbol.values()) <= 2, per_symbol


def funding_info_errors() -> float:
    return metrics.REGISTRY.get_sample_value("collector_exchange_requests_total", {
        "exchange": "binance", "endpoint": "funding_intervals", "outcome": "error"}) or 0.0


def btc_market_dicts() -> list[dict]:
    """Every ccxt market dict of BTC/USDT:USDT alive in the process."""
    gc.collect()
    return [o for o in gc.get_objects() if type(o) is dict and o.get("symbol") == "BTC/USDT:USDT"
            and "precision" in o and "info" in o]


@pytest.mark.parametrize("name", list(EXCHANGES))
async def test_a_symbol_listed_while_streaming_is_streamed_without_a_restart_or_a_fallback(name):
    ccxt_id = EXCHANGES[name]
    channels = {"binance": 3, "bybit": 1, "okx": 3}[name]
    held_before = len(btc_market_dicts())
    async with Simulator(symbols=12, seed=24, tick=0.5, ws_cadence={"okx": {"funding-rate": 0}}) as sim:
        sim.delist(ccxt_id, "SOL/USDT:USDT", mode="remove")  # not listed yet when streaming starts
        errors_before = funding_info_errors()
        with capture_logs() as logs:
            async with streaming(sim, (name,), ticker_interval=TICKER_INTERVAL, stream_interval=STREAM_INTERVAL,
                                 stream_stale_after=STALE_AFTER, markets_ttl=1.0) as ([owner], records):
                await wait_until(lambda: owner.state == "up", 20, "stream up")
                sim.relist(ccxt_id, "SOL/USDT:USDT")
                sim.delist(ccxt_id, "ETH/USDT:USDT", mode="remove")
                await wait_until(lambda: any(r.symbol == "SOL/USDT:USDT" for r in records), 15, "the new listing streamed")
                listed_ms = int(time.time() * 1000)
                await asyncio.sleep(2 * STALE_AFTER)
                # the markets reload every second: the ccxt pro instances share the REST source's tables,
                # and nothing holds the ones they replaced (one generation of markets in memory)
                await wait_until(lambda: owner.native or all(c.exchange is None or c.exchange.markets is owner.source.exchange.markets
                                             for c in owner.connections), 5, "the reloaded markets shared")
                btc_markets = btc_market_dicts()
                status = owner.status()
                streamed = {s for c in owner.connections for s in c.symbols}
    sol = [r for r in records if r.symbol == "SOL/USDT:USDT"]
    assert {r.kind for r in sol} == {"ticker", "funding_rate"}
    if funding_info_errors() > errors_before:  # a loaded machine timed it out: empty until asked again
        assert [r for r in sol if r.kind == "funding_rate"][-1].funding_interval_hours is not None
        sol = [r for r in sol if r.kind == "ticker" or r.funding_interval_hours is not None]
    for record in sol:
        assert_streamed_as_served(sim, record, emitted_ms=records.emitted_ms(record), stream_interval=STREAM_INTERVAL)
    assert sum(1 for r in sol if r.kind == "ticker" and r.received_at > listed_ms) >= 2 * STALE_AFTER / STREAM_INTERVAL - 2
    assert "SOL/USDT:USDT" in streamed and "ETH/USDT:USDT" not in streamed
    # the REST source's markets and markets_by_id entries; counted against what the process held
    # before (a whole-suite run keeps earlier tests' markets alive until their exchanges are freed)
    assert len(btc_markets) - held_before <= 2, (len(btc_markets), held_before)
    assert status["state"] == "up" and status["fallbacks"] == 0 and status["connections"] == 2 * channels
    assert not events(logs, "stream_down", name)
    added = events(logs, "stream_symbols_added", name)
    assert [(e["symbols"], e["connections"]) for e in added] == [(["SOL/USDT:USDT"], channels)]


async def test_a_binance_funding_interval_is_left_empty_while_funding_info_fails_and_filled_once_it_answers():
    """binance streams carry no funding interval: the REST fundingInfo gives it, and its
    documented 8 h default holds only for a symbol that list leaves out. While that request fails
    a streamed funding rate has no interval (not a guessed 8 h); it is asked again at each markets
    reload, and the records carry every symbol's own interval once it answers."""
    async with Simulator(symbols=12, seed=24, tick=0.5) as sim:
        sim.set_fault("binanceusdm", "http_5xx", path="/fapi/v1/fundingInfo")
        hours = {s.symbol: s.funding_interval_hours for s in sim.specs("binanceusdm")}
        assert set(hours.values()) != {8}  # some symbols settle every 4 h or 1 h: a guess would be wrong
        async with streaming(sim, ("binance",), ticker_interval=TICKER_INTERVAL, stream_interval=STREAM_INTERVAL,
                             stream_stale_after=STALE_AFTER, markets_ttl=1.0) as ([owner], records):
            await wait_until(lambda: owner.state == "up" and len({r.symbol for r in records if r.kind == "funding_rate"})
                             == len(hours), 20, "funding rates of every symbol")
            await asyncio.sleep(2.0)  # a reload or two with fundingInfo still failing
            failing = [r for r in records if r.kind == "funding_rate"]
            sim.clear_faults("binanceusdm")
            cleared = len(records)
            await wait_until(lambda: {r.symbol for r in records[cleared:] if r.kind == "funding_rate"
                                      and r.funding_interval_hours is not None} == set(hours), 15,
                             "every symbol's interval once fundingInfo answers")
            status = owner.status()
    assert failing and all(r.funding_interval_hours is None for r in failing), \
        {r.symbol: r.funding_interval_hours for r in failing if r.funding_interval_hours is not None}
    answered = [r for r in records[cleared:] if r.kind == "funding_rate" and r.funding_interval_hours is not None]
    assert {r.symbol: r.funding_interval_hours for r in answered} == hours
    assert status["state"] == "up" and status["fallbacks"] == 0


async def test_records_that_come_long_after_their_exchange_time_are_one_stream_lagging_line_not_a_fault():
    """The exchange's event times 30 s behind our clock, as a daemon that cannot keep up with the
    frames sees them (or a venue whose clock is off): STREAM_004 once, /health's stream fields say
    so, and the stream stays up: late records are still records."""
    async with Simulator(symbols=6, seed=31, tick=0.5, clock=lambda: time.time() - 30.0) as sim:
        with capture_logs() as logs:
            async with streaming(sim, ("bybit",), ticker_interval=TICKER_INTERVAL, stream_interval=STREAM_INTERVAL,
                                 stream_stale_after=STALE_AFTER) as (owners, records):
                owner = owners[0]
                await wait_until(lambda: owner.state == "up" and owner.lag.lagging, 20, "stream_lagging")
                await wait_until(lambda: len(records) >= 30, 10, "records while lagging")
                status = owner.status()
    lagging = events(logs, "stream_lagging", "bybit")
    assert len(lagging) == 1 and lagging[0]["error_code"] == "STREAM_004", lagging
    assert 29.0 <= lagging[0]["lag_s"] <= 30.0 + BOUND_MS / 1000
    assert status["lagging"] is True and status["lag_s"] >= 29.0 and status["state"] == "up"
    assert status["fallbacks"] == 0 and not events(logs, "stream_down", "bybit")
