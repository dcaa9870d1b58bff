"""The simulator's websockets push each channel at its venue's documented cadence (binance's
ticker every 500 ms, markPrice@1s every second, bookTicker with every market tick), a new topic
at once, and a test can ask for every tick instead."""

from __future__ import annotations

import asyncio
import collections
import json

import aiohttp

from exchange_simulator import Simulator, binanceusdm

TICK = 0.1


async def binance_frames(sim: Simulator, seconds: float) -> collections.Counter:
    market = binanceusdm.market_id(sim.symbols("binanceusdm")[0]).lower()
    counts: collections.Counter = collections.Counter()
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{sim.url}/fstream/market/ws/x") as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "id": 1,
                                      "params": [f"{market}@ticker", f"{market}@bookTicker", f"{market}@markPrice@1s"]}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                message = await ws.receive(timeout=left)
            except TimeoutError:
                break
            frame = json.loads(message.data)
            counts[frame.get("e", "ack")] += 1
    return counts


async def test_binance_channels_come_at_their_venue_cadence():
    async with Simulator(symbols=3, seed=31, tick=TICK) as sim:
        counts = await binance_frames(sim, 3.0)
    assert counts["ack"] == 1
    # 3 s of 100 ms ticks: ~30 book tickers, ~6 tickers (500 ms), ~3 mark prices (1 s); the first
    # of each at once, and a tick or two of scheduling either way
    assert 26 <= counts["bookTicker"] <= 32, counts
    assert 5 <= counts["24hrTicker"] <= 8, counts
    assert 3 <= counts["markPriceUpdate"] <= 5, counts


async def test_a_cadence_of_0_pushes_the_channel_with_every_tick():
    async with Simulator(symbols=3, seed=31, tick=TICK, ws_cadence={"binanceusdm": {"ticker": 0, "markPrice": 0}}) as sim:
        counts = await binance_frames(sim, 3.0)
    assert 26 <= counts["24hrTicker"] <= 32 and 26 <= counts["markPriceUpdate"] <= 32, counts
