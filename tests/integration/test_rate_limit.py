"""Request pacing against the simulator with real ccxt: binance's all-symbol ticker call costs 40
units, so at `rate_limit` 1200 (50 ms a unit) the request right after it waits 2 s, and a
request after a longer pause does not wait at all."""

from __future__ import annotations

import asyncio
import time

from collector import metrics
from exchange_simulator import Simulator
from tests.support.collection import sources

# binance's all-symbol ticker/24hr costs 40 units, its whole ticker poll 46 (+ bookTicker 5,
# premiumIndex 1); at rate_limit 1200 a unit is 50 ms.
TICKER_COST_S = 40 * 60 / 1200
POLL_COST_S = 46 * 60 / 1200


async def _timed_poll(source, kind: str) -> float:
    # (A poll within the simulator's tick of the one before returns no records: unchanged.)
    started = time.monotonic()
    await source.poll(kind)
    return time.monotonic() - started


def _waited(exchange: str) -> float:
    return metrics.rate_limit_wait.labels(exchange=exchange)._value.get()


async def test_after_a_pause_longer_than_its_cost_a_request_does_not_wait_for_the_limiter():
    async with Simulator(symbols=20, seed=21) as sim, \
            sources(sim, names=("binance",), rate_limit=1200) as [binance]:
        await binance.poll("ticker")  # books POLL_COST_S
        await asyncio.sleep(1.1 * POLL_COST_S)
        waited_before = _waited("binance")
        # ccxt 4.5's own bucket waits out the whole debt here, however long the pause was
        # (a wait would be the whole cost: half of it is a bound a loaded machine stays under)
        assert await _timed_poll(binance, "funding_rate") < 0.5 * TICKER_COST_S  # premiumIndex + fundingInfo: 2 units
        assert _waited("binance") - waited_before < 0.2
        assert sim.request_count("binanceusdm", "ticker/24hr") == 1
        assert sim.request_count("binanceusdm", "premiumIndex") == 2  # mark prices, funding rates


async def test_requests_closer_than_their_cost_are_still_spaced_and_the_wait_is_counted():
    async with Simulator(symbols=20, seed=22) as sim, \
            sources(sim, names=("binance",), rate_limit=1200) as [binance]:
        await binance.poll("ticker")
        waited_before = _waited("binance")
        assert await _timed_poll(binance, "ticker") >= 0.95 * TICKER_COST_S  # behind the first call's 40 units
        assert _waited("binance") - waited_before >= 0.95 * TICKER_COST_S
        assert sim.request_count("binanceusdm", "ticker/24hr") == 2


async def test_ccxts_rolling_window_chosen_through_ccxt_options_is_left_to_ccxt():
    # 1200 units per rolling minute: two 40-unit calls fit at once, no pacing between them.
    options = {"rateLimiterAlgorithm": "rollingWindow", "rollingWindowSize": 60000}
    async with Simulator(symbols=20, seed=23) as sim, \
            sources(sim, names=("binance",), rate_limit=1200, ccxt_options=options) as [binance]:
        await binance.poll("ticker")
        assert await _timed_poll(binance, "ticker") < 0.5 * TICKER_COST_S
        assert sim.request_count("binanceusdm", "ticker/24hr") == 2
