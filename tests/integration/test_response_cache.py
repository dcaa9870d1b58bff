"""The response cache with real ccxt against the simulator: one request per round serves every kind
that needs it, the records are those of an uncached run, and no poll gets data older than half
its interval. Request counts come from the simulator's `/_sim/stats`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import aiohttp
from collector.config import CacheConfig, CircuitBreakerConfig, ExchangeConfig, PerformanceConfig, RetryConfig
from collector.exchanges.source import ExchangeSource
from collector.metrics import REGISTRY
from collector.scheduler import Scheduler
from exchange_simulator import Simulator
from tests.support.collection import EXCHANGES, assert_served
from tests.support.simulator import FakeClock

START = 1_790_000_000.0  # both runs of a comparison start at the same (simulated) second
BYBIT_TICKERS = "/v5/market/tickers?category=linear"
BINANCE_PREMIUM_INDEX = "/fapi/v1/premiumIndex"


@contextlib.asynccontextmanager
async def collecting(cache: CacheConfig, *, symbols: int = 40, seed: int = 7, markets_ttl: float = 900.0,
                     names: tuple[str, ...] = tuple(EXCHANGES), rate_limit: int = 10000):
    """A simulator and the exchanges' sources on one fake clock, markets loaded."""
    clock = FakeClock(START)
    async with Simulator(symbols=symbols, seed=seed, clock=clock) as sim, contextlib.AsyncExitStack() as stack:
        semaphore = asyncio.Semaphore(50)
        sources = []
        for name in names:
            ccxt_id = EXCHANGES[name]
            config = ExchangeConfig(ccxt_id=ccxt_id, rate_limit=rate_limit, timeout=5.0,
                                    ccxt_options=sim.ccxt_options(ccxt_id))
            source = ExchangeSource(
                name, config, performance=PerformanceConfig(), cache=cache,
                retry=RetryConfig(max_attempts=2, base_delay=0.05, max_delay=0.1),
                circuit_breaker=CircuitBreakerConfig(), semaphore=semaphore, clock=clock,
                markets_ttl=markets_ttl)
            sources.append(await stack.enter_async_context(source))
        sim.reset_counts()  # markets are not what is measured
        yield sim, sources, clock


async def requests_served(sim: Simulator) -> dict[str, Counter]:
    """Per exchange, requests per path (query included), as the operator's `/_sim/stats` shows."""
    async with aiohttp.ClientSession() as session, session.get(f"{sim.url}/_sim/stats") as response:
        stats = await response.json()
    return {name: Counter(stats["requests"][ccxt_id]) for name, ccxt_id in EXCHANGES.items()}


async def rounds_of_both_kinds(cache: CacheConfig, rounds: int, **sim_settings):
    """`rounds` collection rounds with ticker_interval == funding_rate_interval == 1 s."""
    records: list = []
    async with collecting(cache, **sim_settings) as (sim, sources, clock):
        scheduler = Scheduler(sources, intervals={"ticker": 1.0, "funding_rate": 1.0}, emit=records.extend)
        for _ in range(rounds):
            await scheduler.run_once()
            clock.advance(1.0)
        requested = await requests_served(sim)
        for record in records:
            assert_served(sim, record)
    return sorted(records, key=lambda r: (r.kind, r.exchange, r.symbol, r.ts)), requested


def sample(name: str, exchange: str) -> float:
    return REGISTRY.get_sample_value(name, {"exchange": exchange}) or 0.0


async def test_with_equal_intervals_each_endpoint_is_requested_once_per_round_for_the_same_records():
    rounds = 3
    uncached, requested_uncached = await rounds_of_both_kinds(CacheConfig(enabled=False), rounds)
    cached, requested = await rounds_of_both_kinds(CacheConfig(), rounds)
    assert cached == uncached  # every field, received_at included (one fake clock)
    assert len(cached) >= 40 * 6
    # bybit's tickers endpoint carries both kinds: asked twice a round without the cache, once with it
    assert requested_uncached["bybit"][BYBIT_TICKERS] == 2 * rounds
    assert requested["bybit"][BYBIT_TICKERS] == rounds
    # binance premiumIndex: once a round however many kinds ask for it (funding today; tickers
    # too once they read mark/index prices from it)
    assert requested["binance"][BINANCE_PREMIUM_INDEX] == rounds
    assert requested_uncached["binance"][BINANCE_PREMIUM_INDEX] == 2 * rounds, "tickers and funding both read it"
    for name in EXCHANGES:  # every endpoint both kinds request is requested once a round
        assert set(requested[name]) == set(requested_uncached[name]), name
        assert all(count == rounds for count in requested[name].values()), (name, requested[name])


async def test_with_the_cache_off_every_poll_requests_afresh_and_unchanged_records_are_not_emitted_twice():
    async def total(sim) -> int:
        return sum(sum(c.values()) for c in (await requests_served(sim)).values())

    for cache in (CacheConfig(enabled=False), CacheConfig()):
        records: list = []
        async with collecting(cache, symbols=10) as (sim, sources, clock):
            scheduler = Scheduler(sources, intervals={"ticker": 1.0, "funding_rate": 1.0}, emit=records.extend)
            started = await total(sim)
            await scheduler.run_once()
            first, first_round = len(records), await total(sim) - started
            before = await total(sim)
            await scheduler.run_once()  # the same instant: every record is unchanged
            second_round = await total(sim) - before
        # Off: every request again (each poll's plan once more); on: all of them answered by the cache.
        assert (second_round, len(records)) == (first_round if not cache.enabled else 0, first), cache


async def test_funding_every_five_ticker_intervals_reuses_a_ticker_response_but_no_ticker_one_older_than_half():
    records: list = []
    ticker_paths: dict[str, set[str]] = {name: set() for name in EXCHANGES}
    funding_paths: dict[str, set[str]] = {name: set() for name in EXCHANGES}
    async with collecting(CacheConfig(default_ttl=60.0)) as (sim, sources, clock):
        tickers = Scheduler(sources, intervals={"ticker": 1.0}, emit=records.extend)
        funding = Scheduler(sources, intervals={"funding_rate": 5.0}, emit=records.extend)
        # ticker polls 1 s apart and a few early or late ones; funding 0.3 s after a ticker poll
        timeline = [(t, tickers) for t in (0.0, 1.0, 2.0, 2.4, 3.0, 3.6, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)]
        timeline += [(t, funding) for t in (0.3, 5.3, 10.3)]
        for at, scheduler in sorted(timeline, key=lambda event: event[0]):
            clock.now = START + at
            before = await requests_served(sim)
            polled = len(records)
            await scheduler.run_once()
            after = await requests_served(sim)
            paths = ticker_paths if scheduler is tickers else funding_paths
            for name in EXCHANGES:
                paths[name] |= set(after[name] - before[name])
            for record in records[polled:]:
                assert_served(sim, record)
                age = clock.now - record.received_at / 1000
                assert age < (0.5 if record.kind == "ticker" else 2.5), (at, record)
            if scheduler is tickers and at in (3.6,):  # 0.6 s after the last response: afresh
                assert after["bybit"][BYBIT_TICKERS] == before["bybit"][BYBIT_TICKERS] + 1
            if scheduler is funding:  # bybit's funding comes from the ticker poll 0.3 s before
                assert after["bybit"] == before["bybit"], at
                bybit_funding = [r for r in records[polled:] if r.exchange == "bybit"]
                assert {r.received_at for r in bybit_funding} == {int((clock.now - 0.3) * 1000)}
    for name in EXCHANGES:  # no funding poll asked for an endpoint the ticker polls ask for
        assert not funding_paths[name] & ticker_paths[name], name
    assert sample("collector_cache_hits_total", "bybit") >= 4  # 3 funding polls, the ticker at 2.4


async def test_a_cache_of_one_entry_still_collects_everything_and_counts_its_evictions():
    rounds = 3
    evicted = {name: sample("collector_cache_evictions_total", name) for name in EXCHANGES}
    uncached, _ = await rounds_of_both_kinds(CacheConfig(enabled=False), rounds)
    cached, requested = await rounds_of_both_kinds(CacheConfig(max_size=1), rounds)
    assert cached == uncached
    assert requested["bybit"][BYBIT_TICKERS] == rounds  # one entry is all bybit needs
    for name in ("binance", "okx"):  # two endpoints a round through one entry
        assert sample("collector_cache_evictions_total", name) - evicted[name] >= rounds, name


async def test_markets_are_loaded_afresh_even_inside_a_poll_that_accepts_cached_responses():
    async with collecting(CacheConfig(), markets_ttl=0.0) as (sim, sources, clock):  # reload every poll
        scheduler = Scheduler(sources, intervals={"ticker": 1.0, "funding_rate": 1.0}, emit=lambda r: None)
        loads = []
        for _ in range(2):  # the same instant: every data response is reusable
            before = await requests_served(sim)
            await scheduler.run_once()
            after = await requests_served(sim)
            loads.append(sum(n for path, n in (after["bybit"] - before["bybit"]).items() if "instruments-info" in path))
        assert (await requests_served(sim))["bybit"][BYBIT_TICKERS] == 1
    assert loads[0] == loads[1] > 0


async def test_a_response_served_from_the_cache_costs_no_rate_limit_wait():
    # 200 requests a minute: bybit's tickers call (cost 5) books 1.5 s of the budget
    for cache, waits in ((CacheConfig(), False), (CacheConfig(enabled=False), True)):
        async with collecting(cache, symbols=10, names=("bybit",), rate_limit=200) as (sim, sources, clock):
            tickers = Scheduler(sources, intervals={"ticker": 1.0}, emit=lambda r: None)
            funding = Scheduler(sources, intervals={"funding_rate": 1.0}, emit=lambda r: None)
            await tickers.run_once()
            clock.advance(0.3)
            waited = sample("collector_rate_limit_wait_seconds_total", "bybit")
            started = time.perf_counter()
            assert await funding.run_once() == 10
            elapsed = time.perf_counter() - started
        assert (sample("collector_rate_limit_wait_seconds_total", "bybit") > waited) is waits
        assert elapsed > 1.0 if waits else elapsed < 0.5, (cache, elapsed)


async def test_a_malformed_response_is_served_neither_to_the_retry_nor_to_the_other_kind():
    async with collecting(CacheConfig(), symbols=10, names=("binance", "bybit")) as (sim, sources, clock):
        sim.set_fault("binanceusdm", "truncated_json", count=1, path="ticker/24hr")
        sim.set_fault("bybit", "truncated_json", count=1, path="tickers")
        records: list = []
        tickers = Scheduler(sources, intervals={"ticker": 1.0}, emit=records.extend)
        funding = Scheduler(sources, intervals={"funding_rate": 1.0}, emit=records.extend)
        await tickers.run_once()  # binance's parser rejects the body and retries; bybit's reads no rows
        clock.advance(0.3)
        await funding.run_once()
        requested = await requests_served(sim)
    assert requested["binance"]["/fapi/v1/ticker/24hr"] == 2
    assert Counter((r.exchange, r.kind) for r in records) == {
        ("binance", "ticker"): 10, ("binance", "funding_rate"): 10, ("bybit", "funding_rate"): 10}
    assert requested["bybit"][BYBIT_TICKERS] == 2  # the funding poll did not reuse the broken body
