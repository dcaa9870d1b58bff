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
from exchange_simulator import okx as okx_dialect
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
# The polling cadence over 30 s is the engine's, not the decoder's (both decoders' records are
# compared field by field in tests/unit/venues and every shorter test here): the default decoder
# only, so the suite stays within its 20 minutes.
@pytest.mark.parametrize("decoders", ["native"], indirect=True)
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


async def test_okx_open_interest_without_oiccy_is_its_contracts_times_the_contract_size():
    """okx counts `oi` in contracts (ccxt's openInterestAmount); where a row lacks `oiCcy`, the
    stored base-currency figure is `oi` × the market's contract size (BTC: 0.01), not `oi`."""
    async with Simulator(symbols=5, seed=1) as sim, sources(sim, names=("okx",)) as [okx]:
        symbols = sim.symbols("okx")
        rows = [{"instType": "SWAP", "instId": okx_dialect.inst_id(symbol), "oi": "1234.5",
                 "oiUsd": "1000000", "ts": str(int(time.time() * 1000))} for symbol in symbols]
        sim.replay("okx", "/api/v5/public/open-interest", {"code": "0", "data": rows, "msg": ""})
        tickers = {r.symbol: r for r in await okx.poll("ticker")}
    assert set(tickers) == set(symbols)
    assert "BTC/USDT:USDT" in tickers
    for symbol, ticker in tickers.items():
        assert ticker.open_interest == 1234.5 * okx_dialect.contract_value(symbol.split("/")[0]), symbol


async def test_once_stores_binance_tickers_with_the_open_interest_fetched_in_the_same_run():
    """binance's tickers carry no open interest: its per-symbol poll's answers join them. In one
    round (--once) the tickers come after that poll, even when its endpoint answers later than
    the bulk ones (here 0.3 s per request)."""
    async with Simulator(symbols=20, seed=2) as sim, sources(sim, names=("binance",)) as [binance]:
        sim.set_fault("binanceusdm", "latency", path="/fapi/v1/openInterest", latency=0.3)
        emitted: list = []
        scheduler = Scheduler([binance], intervals={"ticker": 30.0, "funding_rate": 300.0, "open_interest": 60.0},
                              emit=emitted.extend)
        await scheduler.run_once()
        history = sim.history("binanceusdm")
    tickers = [r for r in emitted if r.kind == "ticker"]
    assert {t.symbol for t in tickers} == set(sim.symbols("binanceusdm"))
    for ticker in tickers:
        served = {quotes[ticker.symbol].open_interest for _, quotes in history if ticker.symbol in quotes}
        assert ticker.open_interest in served, ticker
