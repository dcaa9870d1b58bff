"""Exchange sources against the simulator, and the check that a record is exactly what was served.

    async with Simulator(symbols=20) as sim, sources(sim, names=("okx",)) as [okx]:
        for record in await okx.poll("ticker"):
            assert_served(sim, record)
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from collector.config import CacheConfig, CircuitBreakerConfig, ExchangeConfig, PerformanceConfig, RetryConfig
from collector.exchanges.source import ExchangeSource
from collector.record_checks import validate
from collector.records import FundingRate, Ticker
from collector.shard import ShardConfig
from exchange_simulator import Quote, Simulator

EXCHANGES = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}
# The decoder sources are made with unless a test names one: `decoders` below sets it per test.
DECODER = {"decoder": "ccxt"}


@pytest.fixture(params=["native", "ccxt"])
def decoders(request):
    """Use in a module as `pytestmark = pytest.mark.usefixtures("decoders")`: each test runs once
    per decoder."""
    DECODER["decoder"] = request.param
    yield request.param
    DECODER["decoder"] = "ccxt"


def make_source(sim: Simulator, name: str, *, semaphore: asyncio.Semaphore | None = None,
                retry: RetryConfig | None = None, breaker: CircuitBreakerConfig | None = None,
                markets_ttl: float = 900.0, cache: CacheConfig | None = None, shard: ShardConfig = ShardConfig(),
                funding_history_days: float = 0.0, **settings) -> ExchangeSource:
    ccxt_id = EXCHANGES[name]
    options = settings.pop("ccxt_options", {})
    settings.setdefault("decoder", DECODER["decoder"])
    config = ExchangeConfig(ccxt_id=ccxt_id, rate_limit=settings.pop("rate_limit", 10000),
                            timeout=settings.pop("timeout", 5.0),
                            ccxt_options={**sim.ccxt_options(ccxt_id), **options}, **settings)
    return ExchangeSource(
        name, config, performance=PerformanceConfig(), cache=cache or CacheConfig(),
        retry=retry or RetryConfig(max_attempts=3, base_delay=0.05, max_delay=0.5),
        circuit_breaker=breaker or CircuitBreakerConfig(),
        semaphore=semaphore or asyncio.Semaphore(50), markets_ttl=markets_ttl,
        shard=shard, funding_history_days=funding_history_days,
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
    history = sim.history(ccxt_id)
    quote = sim.served(ccxt_id, record.symbol, record.ts)
    if quote is None and record.ts == record.received_at:
        # New values under an exchange time the symbol's last record already had (its stamping
        # response was reused from an earlier tick, its other parts are newer): the record takes
        # its receive time, a later identity (kind_state.KindState.track). Its values are from the
        # ticks received by then.
        at = max(i for i, (ts, _) in enumerate(history) if ts <= record.received_at)
        quote = history[at][1].get(record.symbol)
    else:
        assert quote is not None, f"never served: {record}"
        at = [ts for ts, _ in history].index(record.ts)
    nearby = [quotes.get(record.symbol) for _, quotes in history[max(0, at - 2):at + 2]]
    mismatched = {f: (getattr(record, f), getattr(quote, q)) for f, q in fields
                  if all(c is None or getattr(record, f) != getattr(c, q) for c in nearby)}
    assert not mismatched, f"{record.exchange} {record.symbol}: {mismatched}"
