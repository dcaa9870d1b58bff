"""A shard's source against the simulator: every kind, bulk or per symbol, for its own symbols only,
and listings and delistings follow the same rule."""

from __future__ import annotations

import asyncio

from collector.shard import ShardConfig
from exchange_simulator import Simulator
from tests.support.collection import sources

SHARD = ShardConfig(count=3, index=1)


async def test_a_shard_emits_only_its_own_symbols_from_bulk_answers_and_asks_per_symbol_only_for_them():
    async with Simulator(symbols=30, seed=3) as sim, \
            sources(sim, names=("binance",), shard=SHARD, funding_history_days=1) as [binance]:
        everything = set(sim.symbols("binanceusdm"))
        owned = SHARD.owned("binance", everything)
        assert 3 < len(owned) < 20 and binance.symbols == owned
        assert await binance.poll("open_interest") == []
        records = [*await binance.poll("ticker"), *await binance.poll("funding_rate"),
                   *await binance.poll("funding_settlement")]
        kinds = {kind: {r.symbol for r in records if r.kind == kind}
                 for kind in ("ticker", "funding_rate", "funding_settlement")}
        assert kinds == {"ticker": owned, "funding_rate": owned, "funding_settlement": owned}
        assert sim.request_count("binanceusdm", "/fapi/v1/ticker/24hr") == 1  # one bulk request, all symbols
        asked = {path.split("symbol=")[1].split("&")[0] for path in sim.requests("binanceusdm")
                 if "openInterest" in path or "fundingRate?" in path}
        market_ids = {binance.exchange.market(s)["id"] for s in owned}
        assert asked == market_ids  # open interest and settlement history only for owned symbols


async def test_listings_and_delistings_follow_the_shards_rule():
    async with Simulator(symbols=30, seed=4) as sim:
        everything = sim.symbols("bybit")
        mine = sorted(SHARD.owned("bybit", everything))
        other = sorted(set(everything) - set(mine))
        sim.delist("bybit", mine[0], mode="remove")  # listed later: this shard's
        sim.delist("bybit", other[0], mode="remove")  # listed later: another shard's
        async with sources(sim, names=("bybit",), markets_ttl=1.0, shard=SHARD) as [bybit]:
            assert bybit.symbols == set(mine[1:])
            sim.relist("bybit", mine[0])
            sim.relist("bybit", other[0])
            sim.delist("bybit", mine[1], mode="status")
            await asyncio.sleep(1.2)  # past markets_ttl: the next poll reloads the markets
            records = await bybit.poll("ticker")
            assert {r.symbol for r in records} == bybit.symbols == {mine[0], *mine[2:]}
