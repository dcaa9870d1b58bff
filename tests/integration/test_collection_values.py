"""The engine against the exchange simulator (real ccxt over HTTP): what it collects is exactly
what the exchanges served, for every symbol, every tick."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

import pytest

from collector import metrics
from collector.scheduler import Scheduler
from exchange_simulator import Simulator
from tests.support.collection import decoders, EXCHANGES, assert_served, sources  # noqa: F401 (fixture)

# Every test once per decoder: native (the venue modules) and ccxt (the reference).
pytestmark = pytest.mark.usefixtures("decoders")


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


def _skipped(name: str, kind: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "collector_ticks_skipped_total", {"exchange": name, "kind": kind}) or 0.0


@pytest.mark.slow
async def test_every_symbol_of_every_exchange_yields_a_ticker_every_tick_for_30_seconds():
    interval, seconds = 1.0, 30.0
    ticks = seconds / interval
    pairs = [(name, kind) for name in EXCHANGES for kind in ("ticker", "funding_rate")]
    skipped_before = {pair: _skipped(*pair) for pair in pairs}
    async with Simulator(symbols=200, seed=2) as sim, sources(sim) as srcs:
        batches: list = []
        scheduler = Scheduler(srcs, intervals={"ticker": interval, "funding_rate": interval}, emit=batches.append,
                              max_jitter=0.05)
        # The simulator steps on whole seconds of the wall clock: start the polls 0.3 s into a
        # second, so only a poll more than 0.6 s late lands in the tick of the one before.
        await asyncio.sleep((0.3 - time.time() % interval) % interval)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(seconds)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    per_poll = collections.defaultdict(list)
    for batch in batches:
        per_poll[(batch[0].exchange, batch[0].kind)].append(batch)
        for record in batch:
            assert_served(sim, record)
    for name, kind in pairs:
        polls = per_poll[(name, kind)]
        skipped = _skipped(name, kind) - skipped_before[(name, kind)]
        # Every tick either brought records or was skipped and counted (SCHED_001) because a
        # loaded machine made the poll before it overrun; a few more may land in the same
        # simulator tick as the one before (nothing new to emit).
        assert len(polls) + skipped >= 0.9 * ticks, (name, kind, len(polls), skipped)
        assert len(polls) >= 0.75 * ticks, (name, kind, len(polls), skipped)
        if kind == "ticker":  # prices move every tick
            assert all(len({r.symbol for r in b}) == 200 for b in polls), (name, kind)
        else:  # a funding rate that did not change in a tick is that observation again
            assert len({r.symbol for b in polls for r in b}) == 200, (name, kind)
    for src in srcs:
        assert src.status()["consecutive_failures"] == 0
