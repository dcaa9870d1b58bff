"""The engine against the exchange simulator (real ccxt over HTTP): what it collects is exactly
what the exchanges served, for every symbol, every tick."""

from __future__ import annotations

import asyncio
import collections
import contextlib

import pytest

from collector.scheduler import Scheduler
from exchange_simulator import Simulator
from tests.support.collection import EXCHANGES, assert_served, sources


async def test_three_rounds_of_every_exchange_equal_what_the_simulator_served():
    async with Simulator(symbols=200, seed=1) as sim, sources(sim) as srcs:
        emitted: list = []
        scheduler = Scheduler(srcs, intervals={"ticker": 1.0, "funding_rate": 1.0}, emit=emitted.extend)
        for round_no in range(3):
            count = await scheduler.run_once()
            # bybit tickers always count (receive-time ts); the rest are new when the tick moved on
            assert count >= 200 * 2 if round_no else count == 200 * 6
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
            assert all(len({r.symbol for r in b}) == 200 for b in polls), (name, kind)
    for src in srcs:
        assert src.status()["consecutive_failures"] == 0
