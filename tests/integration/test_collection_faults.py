"""The engine through exchange faults (real ccxt against the simulator): breakers, retries,
request budget, symbol validation and delisting, and flat memory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import time
import tracemalloc

import pytest
from structlog.testing import capture_logs

from collector import metrics
from collector.config import CacheConfig, CircuitBreakerConfig, RetryConfig
from collector.errors import ConfigError
from collector.scheduler import Scheduler
from exchange_simulator import Simulator
from exchange_simulator.okx import ccxt_options as okx_options
from tests.support.collection import decoders, assert_served, make_source, sources  # noqa: F401 (fixture)

# Every test once per decoder: native (the venue modules) and ccxt (the reference).
pytestmark = pytest.mark.usefixtures("decoders")
from tests.support.simulator import FakeClock

# Where a test waits for the simulator's next tick (or the markets TTL), both are short.
TICK = 0.25
A_TICK_LATER = TICK + 0.05


async def _wait_for(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def test_a_429_storm_opens_the_breaker_stops_requests_and_collection_resumes_by_itself():
    recovery, interval = 3.0, 0.5
    breaker = CircuitBreakerConfig(failure_threshold=3, recovery_timeout=recovery)
    retry = RetryConfig(max_attempts=2, base_delay=0.05, max_delay=0.2)
    async with Simulator(symbols=50, seed=3) as sim, sources(sim, breaker=breaker, retry=retry) as srcs:
        okx = next(s for s in srcs if s.name == "okx")
        batches: list = []
        scheduler = Scheduler(srcs, intervals={"ticker": interval}, emit=batches.append, max_jitter=0.05)
        sim.set_fault("okx", "http_429", retry_after=0.1, path="market/tickers")
        with capture_logs() as logs:
            run_started = time.monotonic()
            task = asyncio.create_task(scheduler.run())
            opened_at = await _wait_for(lambda: okx.status()["breaker"] == "open", 10.0)
            requests_when_opened = sim.request_count("okx", "market/tickers")
            # The next request is the probe: an open breaker costs no request until
            # recovery_timeout has passed (measured from when we saw it open, a little late).
            probed_at = await _wait_for(
                lambda: sim.request_count("okx", "market/tickers") > requests_when_opened, 3 * recovery + 10)
            assert probed_at - opened_at >= 0.9 * recovery
            assert sim.request_count("okx", "market/tickers") == requests_when_opened + 1  # one probe, failed
            storm_end = time.time()
            sim.clear_faults("okx")
            await _wait_for(lambda: okx.status()["breaker"] == "closed", 3 * recovery + 10)
            await _wait_for(lambda: any(b[0].exchange == "okx" and b[0].received_at / 1000 > storm_end
                                        for b in batches), 10 * interval + 10)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            ticks = (time.monotonic() - run_started) / interval
            # the others kept polling all along (a loaded machine may skip a few of their ticks)
            assert sim.request_count("binanceusdm", "ticker/24hr") >= 0.5 * ticks
            assert sim.request_count("bybit", "tickers") >= 0.5 * ticks
    assert any(b[0].exchange == "okx" and b[0].received_at / 1000 > storm_end for b in batches)
    opened = [e for e in logs if e["event"] == "breaker_opened" and e["breaker"] == "okx:ticker"]
    assert len(opened) == 1 and opened[0]["error_code"] == "CIRCUIT_001"
    failed = [e for e in logs if e["event"] == "exchange_poll_failed" and e["exchange"] == "okx"
              and e["log_level"] == "warning"]
    assert len(failed) == 1 and failed[0]["error_code"] == "EXCHANGE_003"  # logged on the change only
    assert [e["event"] for e in logs if e["event"] == "exchange_recovered" and e["exchange"] == "okx"] == [
        "exchange_recovered"]


async def test_retry_after_from_a_429_is_honoured_and_the_poll_then_succeeds():
    retry = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=5.0)
    async with Simulator(symbols=10, seed=4) as sim, sources(sim, names=("binance",), retry=retry) as [binance]:
        sim.set_fault("binanceusdm", "http_429", retry_after=1.0, path="ticker/24hr", count=1)
        started = time.monotonic()
        records = await binance.poll("ticker")
        assert time.monotonic() - started >= 1.0  # the server asked for 1 s; backoff alone is ~0.01 s
        assert len(records) == 10
        assert sim.request_count("binanceusdm", "ticker/24hr") == 2


async def test_an_auth_error_is_not_retried_and_logged_once_as_exchange_002():
    async with Simulator(symbols=10, seed=5) as sim, sources(sim, names=("bybit",)) as [bybit]:
        sim.set_fault("bybit", "auth_error", path="tickers")
        with capture_logs() as logs:
            for _ in range(3):
                assert await bybit.poll("ticker") == []
        assert sim.request_count("bybit", "tickers") == 3  # one request per poll, no retries
        failed = [e for e in logs if e["event"] == "exchange_poll_failed" and e["log_level"] == "error"]
        assert len(failed) == 1 and failed[0]["error_code"] == "EXCHANGE_002"


async def test_timeouts_malformed_json_and_resets_are_retried_counted_and_never_crash_and_memory_stays_flat():
    retry = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05)
    # Rounds back to back, faster than their interval: with the response cache on they would
    # share responses, and this test counts what each round's requests meet.
    uncached = CacheConfig(enabled=False)
    async with Simulator(symbols=50, seed=6) as sim, sources(sim, retry=retry, timeout=1.0, cache=uncached) as srcs:
        for ccxt_id in ("binanceusdm", "bybit", "okx"):
            sim.set_fault(ccxt_id, "malformed_json", probability=0.15)
            sim.set_fault(ccxt_id, "truncated_json", probability=0.1)
            sim.set_fault(ccxt_id, "reset", probability=0.1)
            sim.set_fault(ccxt_id, "http_5xx", probability=0.05, status=502)
        sim.set_fault("okx", "timeout", count=2, path="market/tickers")
        emitted: list = []
        scheduler = Scheduler(srcs, intervals={"ticker": 1.0, "funding_rate": 1.0},
                              emit=lambda records: emitted.append(len(records)))
        errors_before = _request_errors()
        for _ in range(8):  # warm up: pools, caches, metric children
            await scheduler.run_once()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for _ in range(30):
            await scheduler.run_once()
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        # the simulator runs in this process and keeps an hour of served ticks: not ours to count
        ours = [tracemalloc.Filter(False, "*exchange_simulator*"), tracemalloc.Filter(False, tracemalloc.__file__)]
        stats = after.filter_traces(ours).compare_to(before.filter_traces(ours), "lineno")
        growth = sum(stat.size_diff for stat in stats)
        top = "\n".join(str(s) for s in stats[:8])
        assert growth < 1_000_000, f"memory grew by {growth} bytes over 30 rounds:\n{top}"
        assert _request_errors() - errors_before >= 15  # the faults happened and were counted
        assert sim.fault_count() >= 15
        print(f"memory growth over 30 rounds: {growth} bytes")
        assert sum(emitted) > 0.7 * 38 * 50 * 2  # most rounds still collected (new ticks only)
        for src in srcs:
            assert src.status()["consecutive_failures"] < 5


def _request_errors() -> float:
    return sum(
        sample.value for family in metrics.REGISTRY.collect() if family.name == "collector_exchange_requests"
        for sample in family.samples if sample.labels.get("outcome") == "error" and sample.name.endswith("_total")
    )


async def test_markets_are_loaded_once_not_per_tick_and_reloaded_after_their_ttl():
    # every round requests afresh (rounds back to back would share responses through the cache)
    uncached = CacheConfig(enabled=False)
    async with Simulator(symbols=20, seed=7) as sim, sources(sim, markets_ttl=5.0, cache=uncached) as srcs:
        loaded = time.monotonic()
        scheduler = Scheduler(srcs, intervals={"ticker": 1.0, "funding_rate": 1.0}, emit=lambda r: None)
        for _ in range(6):
            await scheduler.run_once()
        assert time.monotonic() - loaded < 5.0, "the rounds took longer than the markets TTL"
        assert sim.request_count("binanceusdm", "exchangeInfo") == 1
        assert sim.request_count("bybit", "instruments-info") == 2  # linear + its PreLaunch page
        assert sim.request_count("okx", "instruments") == 1
        assert sim.request_count("binanceusdm", "ticker/24hr") == 6
        assert sim.request_count("okx", "funding-rate") == 6
        await asyncio.sleep(max(0.0, 5.1 - (time.monotonic() - loaded)))
        await scheduler.run_once()
        assert sim.request_count("binanceusdm", "exchangeInfo") == 2
        assert sim.request_count("okx", "instruments") == 2


async def test_an_unknown_configured_symbol_is_a_config_003_error_at_start():
    async with Simulator(symbols=5, seed=8) as sim:
        source = make_source(sim, "okx", symbols=("BTC/USDT:USDT", "NOPE/USDT:USDT"))
        with pytest.raises(ConfigError) as caught:
            async with source:
                pass
    [(code, message)] = caught.value.problems
    assert code == "CONFIG_003"
    assert "exchange_configs.okx.symbols: unknown symbol 'NOPE/USDT:USDT' on okx" in message


@pytest.mark.parametrize("name, mode", [("bybit", "status"), ("okx", "remove")])
async def test_a_symbol_delisted_later_is_dropped_with_one_warning(name, mode):
    wanted = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    async with Simulator(symbols=10, seed=9, tick=TICK) as sim, sources(sim, names=(name,), symbols=wanted,
                                                                       markets_ttl=TICK) as [source]:
        assert {r.symbol for r in await source.poll("funding_rate")} == set(wanted)
        sim.delist(source.exchange_id, "ETH/USDT:USDT", mode=mode)
        with capture_logs() as logs:
            for _ in range(4):
                # > 1 simulator tick (and the markets TTL) apart, so every poll sees fresh timestamps
                # (not deduplicated)
                await asyncio.sleep(A_TICK_LATER)
                records = await source.poll("funding_rate")
                records += await source.poll("ticker")
        assert {r.symbol for r in records} == {"BTC/USDT:USDT", "SOL/USDT:USDT"}
        delisted = [e for e in logs if e["event"] == "symbol_delisted"]
        assert [(e["symbol"], e["log_level"]) for e in delisted] == [("ETH/USDT:USDT", "warning")]
        assert source.status()["consecutive_failures"] == 0


def _rejected(exchange: str, endpoint: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "collector_symbols_rejected_total", {"exchange": exchange, "endpoint": endpoint}) or 0.0


async def test_a_symbol_the_open_interest_endpoint_rejects_keeps_its_tickers_and_funding_rates():
    """binance's per-symbol openInterest starts answering -1121 "Invalid symbol." for ETH, which
    its markets list as trading: ETH's tickers come without open interest (not the last figure),
    its tickers and funding rates still come, and the rejection is counted each time and logged
    once."""
    clock = FakeClock()
    async with Simulator(symbols=5, seed=9, clock=clock) as sim, sources(sim, names=("binance",)) as [binance]:
        everything = set(sim.symbols("binanceusdm"))
        before = _rejected("binance", "open_interest")
        with capture_logs() as logs:
            for round_no in range(3):
                if round_no == 1:
                    sim.replay("binanceusdm", "/fapi/v1/openInterest", {"code": -1121, "msg": "Invalid symbol."},
                               query={"symbol": "ETHUSDT"}, status=400)
                clock.advance(1.0)  # a new exchange snapshot, so no record is a repeat
                assert await binance.poll("open_interest") == []
                tickers = {r.symbol: r for r in await binance.poll("ticker")}
                assert {r.symbol for r in await binance.poll("funding_rate")} == everything
                assert set(tickers) == everything
                assert (tickers["ETH/USDT:USDT"].open_interest is None) == (round_no > 0)
                assert all(t.open_interest is not None for s, t in tickers.items() if s != "ETH/USDT:USDT")
        rejected = [e for e in logs if e["event"] == "symbols_rejected"]
        assert [(e["endpoint"], e["symbols"], e["error_code"], e["log_level"]) for e in rejected] == [
            ("open_interest", ["ETH/USDT:USDT"], "EXCHANGE_004", "warning")]
        assert not [e for e in logs if e["event"] == "symbol_delisted"]
        assert _rejected("binance", "open_interest") - before == 2


async def test_a_new_listing_is_collected_after_the_markets_reload_without_a_restart():
    async with Simulator(symbols=6, seed=14, tick=TICK) as sim:
        sim.delist("bybit", "SOL/USDT:USDT", mode="remove")  # not listed yet when the source starts
        async with sources(sim, names=("bybit",), markets_ttl=TICK) as [bybit]:
            assert "SOL/USDT:USDT" not in {r.symbol for r in await bybit.poll("funding_rate")}
            sim.relist("bybit", "SOL/USDT:USDT")
            with capture_logs() as logs:
                await asyncio.sleep(A_TICK_LATER)  # the markets TTL has passed
                records = await bybit.poll("funding_rate")
            assert "SOL/USDT:USDT" in {r.symbol for r in records}
            listed = [e for e in logs if e["event"] == "symbols_listed"]
            assert [e["symbols"] for e in listed] == [["SOL/USDT:USDT"]]


async def test_without_a_bulk_endpoint_each_symbol_is_fetched_and_still_exact():
    async with Simulator(symbols=12, seed=10) as sim, sources(
            sim, names=("okx",), ccxt_options={"has": {"fetchFundingRates": False}}) as [okx]:
        records = await okx.poll("funding_rate")
        assert len(records) == 12
        for record in records:
            assert_served(sim, record)
        assert sim.request_count("okx", "funding-rate?instId=ANY") == 0
        assert sim.request_count("okx", "funding-rate?instId=") == 12


async def test_unchanged_records_are_not_emitted_twice_and_their_symbols_turn_stale():
    # The simulator's clock stands still: every endpoint a ticker poll merges (tickers, mark
    # prices, index prices, open interest) serves the same snapshot however long the polls take.
    # (Freezing the tickers alone let a loaded machine's slow polls see the open interest move.)
    async with Simulator(symbols=8, seed=11, clock=FakeClock()) as sim, sources(sim, names=("okx",)) as [okx]:
        first = await okx.poll("ticker")
        repeats = [await okx.poll("ticker") for _ in range(3)]
        assert len(first) == 8 and repeats == [[], [], []]
        kind = okx.status()["kinds"]["ticker"]
        assert kind["stale_symbols"] == 8 and kind["stale"] is True
        assert metrics.REGISTRY.get_sample_value(
            "collector_stale_symbols", {"exchange": "okx", "kind": "ticker"}) == 8


async def test_clock_skew_of_an_exchange_is_measured():
    async with Simulator(symbols=5, seed=12, tick=TICK) as sim, sources(sim, names=("binance",)) as [binance]:
        sim.set_fault("binanceusdm", "clock_skew", skew_ms=5000)
        await asyncio.sleep(A_TICK_LATER)  # the next simulator tick carries the skewed time
        await binance.poll("funding_rate")
        skew = metrics.REGISTRY.get_sample_value("collector_clock_skew_seconds", {"exchange": "binance"})
        assert 3.5 < skew < 5.5


@pytest.mark.parametrize("name", ["binance", "bybit", "okx"])
async def test_an_exchange_5xx_is_retried_and_a_lasting_one_is_exchange_001(name):
    retry = RetryConfig(max_attempts=2, base_delay=0.01, max_delay=0.05)
    ccxt_id = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}[name]
    path = {"binance": "ticker/24hr", "bybit": "tickers", "okx": "market/tickers"}[name]
    async with Simulator(symbols=5, seed=24, tick=TICK) as sim, sources(sim, names=(name,), retry=retry) as [source]:
        sim.set_fault(ccxt_id, "http_5xx", status=503, path=path, count=1)
        assert len(await source.poll("ticker")) == 5  # the 503 was retried
        assert sim.request_count(ccxt_id, path) == 2
        sim.set_fault(ccxt_id, "http_5xx", status=500, path=path)
        with capture_logs() as logs:
            await asyncio.sleep(A_TICK_LATER)  # a new simulator tick
            assert await source.poll("ticker") == []
    failed = [e for e in logs if e["event"] == "exchange_poll_failed"]
    assert [e["error_code"] for e in failed] == ["EXCHANGE_001"]  # unavailable, not a bad request
    assert sim.request_count(ccxt_id, path) == 4  # retried once more, then given up


async def test_an_unreachable_exchange_is_logged_with_why_it_could_not_be_reached():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = okx_options(f"http://127.0.0.1:{port}")
    retry = RetryConfig(max_attempts=1, base_delay=0.01, max_delay=0.05)
    async with Simulator(symbols=3, seed=25) as sim:
        with capture_logs() as logs:
            async with make_source(sim, "okx", retry=retry, ccxt_options=options) as okx:
                assert await okx.poll("ticker") == []
                status = okx.status()  # what /health shows for the exchange
    failed = [e for e in logs if e["event"] == "exchange_poll_failed"]
    assert [e["error_code"] for e in failed] == ["EXCHANGE_001"]
    # ccxt's own message is only "okx GET <url>"; the reason comes from aiohttp's error
    assert f"Cannot connect to host 127.0.0.1:{port}" in failed[0]["error"]
    assert "Connect call failed" in failed[0]["error"]
    assert status["error_code"] == "EXCHANGE_001"
    assert status["last_error"] == failed[0]["error"] == status["kinds"]["ticker"]["last_error"]


async def test_an_outage_of_a_per_symbol_endpoint_is_one_warning_not_one_per_symbol_and_poll():
    retry = RetryConfig(max_attempts=2, base_delay=0.01, max_delay=0.05)
    async with Simulator(symbols=12, seed=26) as sim, sources(
            sim, names=("okx",), retry=retry, ccxt_options={"has": {"fetchFundingRates": False}}) as [okx]:
        sim.set_fault("okx", "http_5xx", status=503, path="funding-rate")
        with capture_logs() as logs:
            for _ in range(3):
                assert await okx.poll("funding_rate") == []
        assert sim.request_count("okx", "funding-rate?instId=") == 3 * 12 * 2  # every symbol, retried
    loud = [(e["event"], e.get("error_code")) for e in logs if e["log_level"] in ("warning", "error")]
    assert loud == [("exchange_poll_failed", "EXCHANGE_001")]
    assert sum(e["event"] == "retries_exhausted" for e in logs) == 3 * 12  # still there, at debug


async def test_retry_after_is_read_from_the_429s_own_response_while_other_symbols_succeed():
    retry = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=5.0)
    async with Simulator(symbols=12, seed=27) as sim, sources(
            sim, names=("okx",), retry=retry, ccxt_options={"has": {"fetchFundingRates": False}}) as [okx]:
        sim.set_fault("okx", "http_429", retry_after=1.0, path="funding-rate", count=1)
        started = time.monotonic()
        records = await okx.poll("funding_rate")
        elapsed = time.monotonic() - started
        assert sim.request_count("okx", "funding-rate?instId=") == 13  # 12 symbols, one retried
    assert len(records) == 12
    # The other 11 symbols' answers (no Retry-After) arrive meanwhile; the one that got the 429
    # still waits the 1 s its response asked for, not the ~0.01 s backoff.
    assert elapsed >= 1.0
