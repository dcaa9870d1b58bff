"""Test helpers for the exchange simulator: a settable clock, ccxt configs, a fixture factory.

    from tests.support.simulator import simulator_factory, ccxt_config  # noqa: F401 (fixture)

    async def test_x(simulator_factory):
        sim = await simulator_factory(symbols=20)
        exchange = ccxt.async_support.okx(ccxt_config(sim, "okx", timeout=2000))
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio

from collector.exchanges.market_selection import deep_merge
from exchange_simulator import Simulator


class FakeClock:
    """A clock for ``Simulator(clock=...)`` that moves only when a test says so."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time())) if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ccxt_config(sim: Simulator, exchange: str, **extra: object) -> dict:
    """ccxt constructor config pointing ``exchange`` at ``sim``; no client-side rate limiting."""
    return deep_merge({"enableRateLimit": False, **extra}, sim.ccxt_options(exchange))


@pytest_asyncio.fixture
async def simulator_factory() -> AsyncIterator[Callable[..., Awaitable[Simulator]]]:
    """Start simulators with any ``Simulator`` arguments; all are closed after the test."""
    started: list[Simulator] = []

    async def start(**kwargs: object) -> Simulator:
        sim = Simulator(**kwargs)  # type: ignore[arg-type]
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in reversed(started):
        await sim.close()
