"""The engine against the exchange simulator (real ccxt over HTTP): what it collects is exactly
what the exchanges served, for every symbol, every tick."""

from __future__ import annotations

import asyncio
import collections
import contextlib

import pytest

from collector.config import CacheConfig, CircuitBreakerConfig, ExchangeConfig, PerformanceConfig, RetryConfig
from collector.exchanges.source import ExchangeSource
from collector.records import FundingRate, Ticker, validate
from collector.scheduler import Scheduler
from exchange_simulator import Quote, Simulator

EXCHANGES = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}


def make_source(sim: Simulator, name: str, *, semaphore: asyncio.Semaphore | None = None,
                retry: RetryConfig | None = None, breaker: CircuitBreakerConfig | None = None,
                markets_ttl: float = 900.0, cache: CacheConfig | None = None, **settings) -> ExchangeSource:
    ccxt_id = EXCHANGES[name]
    options = settings.pop("ccxt_options", {})
    config = ExchangeConfig(ccxt_id=ccxt_id, rate_limit=settings.pop("rate_limit", 10000),
                            timeout=settings.pop("timeout", 5.0),
                            ccxt_options={**sim.ccxt_options(ccxt_id), **options}, **settings)
    return ExchangeSource(
        name, config, performance=PerformanceConfig(), cache=cache or CacheConfig(),
        retry=retry or RetryConfig(max_attempts=3, base_delay=0.05, max_delay=0.5),
        circuit_breaker=breaker or CircuitBreakerConfig(),
        semaphore=semaphore or asyncio.Semaphore(50), markets_ttl=markets_ttl,
    )


@contextlib.asynccontextmanager
async def sources(sim: Simulator, names=tuple(EXCHANGES), **settings):
    semaphore = asyncio.Semaphore(50)
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(make_source(sim, n, semaphore=semaphore, **settings))
               for n in names]


# What each exchange's dialect serves, as (record field, Quote field).
_ALL_TICKER_FIELDS = [
    ("last", "last"), ("bid", "bid"), ("ask", "ask"), ("mark_price", "mark"), ("index_price", "index"),
    ("high_24h", "high_24h"), ("low_24h", "low_24h"), ("base_volume_24h", "base_volume"),
    ("quote_volume_24h", "quote_volume"), ("open_interest", "open_interest")]
TICKER_FIELDS = {
    # binance's open interest comes from its per-symbol poll (open_interest_interval), joined later
    "binance": [f for f in _ALL_TICKER_FIELDS if f[0] != "open_interest"],
    "bybit": _ALL_TICKER_FIELDS,
    "okx": [f for f in _ALL_TICKER_FIELDS if f[0] != "quote_volume_24h"],
}
FUNDING_FIELDS = {
    "binance": [("funding_rate", "funding_rate"), ("next_funding_time", "next_funding_time"),
                ("mark_price", "mark"), ("index_price", "index"), ("interest_rate", "interest_rate"),
                ("funding_interval_hours", "funding_interval_hours")],
    "bybit": [("funding_rate", "funding_rate"), ("next_funding_time", "next_funding_time"),
              ("mark_price", "mark"), ("index_price", "index"),
              ("funding_interval_hours", "funding_interval_hours")],
    "okx": [("funding_rate", "funding_rate"), ("next_funding_time", "next_funding_time"),
            ("funding_interval_hours", "funding_interval_hours"),
            ("predicted_funding_rate", "predicted_funding_rate")],
}


def _matches(record, quote: Quote | None, fields) -> bool:
    return quote is not None and all(getattr(record, f) == getattr(quote, q) for f, q in fields)


def assert_served(sim: Simulator, record: Ticker | FundingRate) -> None:
    """Every value equals (==, no tolerance) what the simulator served in the tick the record
    names, or, for a ticker merged from several responses, in a tick next to it (the
    responses of one poll can straddle a tick)."""
    validate(record)
    ccxt_id = EXCHANGES[record.exchange]
    fields = (TICKER_FIELDS if isinstance(record, Ticker) else FUNDING_FIELDS)[record.exchange]
    quote = sim.served(ccxt_id, record.symbol, record.ts)
    assert quote is not None, f"never served: {record}"
    ticks = [ts for ts, _ in sim.history(ccxt_id)]
    at = ticks.index(record.ts)
    nearby = [quotes.get(record.symbol) for _, quotes in sim.history(ccxt_id)[max(0, at - 2):at + 2]]
    mismatched = {f: (getattr(record, f), getattr(quote, q)) for f, q in fields
                  if all(c is None or getattr(record, f) != getattr(c, q) for c in nearby)}
    assert not mismatched, f"{record.exchange} {record.symbol}: {mismatched}"


async def test_three_rounds_of_every_exchange_equal_what_the_simulator_served():
    async with Simulator(symbols=200, seed=1) as sim, sources(sim) as srcs:
        emitted: list = []
        scheduler = Scheduler(srcs, intervals={"ticker": 1.0, "funding_rate": 1.0}, emit=emitted.extend)
        for round_no in range(3):
            count = await scheduler.run_once()
            # every record is new when the simulator's tick moved on
            assert count == 200 * 6
            await asyncio.sleep(1.05)
        for record in emitted:
            assert_served(sim, record)
        kinds = collections.Counter((r.exchange, r.kind) for r in emitted)
        assert kinds[("binance", "ticker")] >= 400 and kinds[("okx", "funding_rate")] >= 400


@pytest.mark.slow
async def test_every_symbol_of_every_exchange_yields_a_ticker_every_tick_for_30_seconds():
    async with Simulator(symbols=200, seed=2) as sim, sources(sim) as srcs:
        batches: list = []
        scheduler = Scheduler(srcs, intervals={"ticker": 1.0, "funding_rate": 1.0}, emit=batches.append,
                              max_jitter=0.05)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(30.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    per_poll = collections.defaultdict(list)
    for batch in batches:
        per_poll[(batch[0].exchange, batch[0].kind)].append(batch)
        for record in batch:
            assert_served(sim, record)
    for name in EXCHANGES:
        for kind in ("ticker", "funding_rate"):
            polls = per_poll[(name, kind)]
            # a poll can land in the same simulator tick as the one before (nothing new); not more
            assert len(polls) >= 28, (name, kind, len(polls))
            if kind == "ticker":  # prices move every tick
                assert all(len({r.symbol for r in b}) == 200 for b in polls), (name, kind)
            else:  # a funding rate that did not change in a tick is that observation again
                assert len({r.symbol for b in polls for r in b}) == 200, (name, kind)
    for src in srcs:
        assert src.status()["consecutive_failures"] == 0
