"""Counting clients: the websocket subscriptions a stream daemon makes to the simulator (the same
topics over as many connections), each message only counted. What the simulator pushes to them is
its own capacity, with no decoder behind the sockets to slow it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp

from exchange_simulator import binanceusdm, bybit, okx
from exchange_simulator.listing import symbol_specs
from exchange_simulator.ws_dialects import WS_DIALECTS

# per venue: (websocket path, symbols per connection, subscribe messages for a chunk of market ids)
_BINANCE_STREAMS = ("bookTicker", "ticker", "markPrice@1s")
_OKX_CHANNELS = ("tickers", "mark-price", "funding-rate")
VENUES = {
    "binanceusdm": ("/fstream/market/ws", 200, binanceusdm.market_id, lambda ids: [
        {"method": "SUBSCRIBE", "params": [f"{i.lower()}@{s}" for i in ids for s in _BINANCE_STREAMS], "id": 1}]),
    "bybit": ("/v5/public/linear", 200, bybit.market_id, lambda ids: [
        {"op": "subscribe", "req_id": "1", "args": [f"tickers.{i}" for i in ids]}]),
    "okx": ("/ws/v5/public", 100, okx.inst_id, lambda ids: [
        {"op": "subscribe", "args": [{"channel": c, "instId": i} for i in ids for c in _OKX_CHANNELS]}]),
}


# the wire channels those messages subscribe, per venue
CHANNELS = {"binanceusdm": ("bookTicker", "ticker", "markPrice"), "bybit": ("tickers",), "okx": _OKX_CHANNELS}


def feed_rate(symbols: int, tick: float) -> float:
    """Frames/s the simulator's feed holds at `tick`: every channel pushed with each tick, or at
    its venue's cadence when that is slower."""
    return sum(symbols / max(tick, WS_DIALECTS[venue].cadence.get(channel, 0.0))
               for venue, channels in CHANNELS.items() for channel in channels)


class FeedCounter:
    """Every topic of `symbols` symbols (the simulator's seed 0) on each venue, counted."""

    def __init__(self, url: str, symbols: int) -> None:
        self.url = url
        self.symbols = [spec.symbol for spec in symbol_specs(symbols, 0)]
        self.messages = 0
        self.connections = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FeedCounter]:
        async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as group:
            tasks = []
            for venue, (path, per_connection, market_id, subscribe) in VENUES.items():
                ids = [market_id(symbol) for symbol in self.symbols]
                for start in range(0, len(ids), per_connection):
                    messages = subscribe(ids[start:start + per_connection])
                    tasks.append(group.create_task(self._count(session, path, messages),
                                                   name=f"bench:count:{venue}:{start}"))
            try:
                yield self
            finally:
                for task in tasks:
                    task.cancel()

    async def _count(self, session: aiohttp.ClientSession, path: str, messages: list[dict]) -> None:
        async with session.ws_connect(self.url + path, autoping=True, max_msg_size=0) as ws:
            self.connections += 1
            for message in messages:
                await ws.send_str(json.dumps(message))
            async for _ in ws:
                self.messages += 1
