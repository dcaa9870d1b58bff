"""The exchange rate limiter: ccxt's pacing by request cost, with idle time credited."""

from __future__ import annotations

import asyncio

import pytest

from collector import metrics
from collector.resilience.ratelimit import RateLimiter


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def limiter(time: FakeTime, seconds_per_unit: float = 0.05) -> RateLimiter:
    return RateLimiter("testex", seconds_per_unit, clock=time.clock, sleep=time.sleep)


async def test_back_to_back_requests_are_spaced_by_the_cost_of_the_one_before():
    time = FakeTime()
    throttle = limiter(time)
    await throttle(40)  # binance's all-symbol ticker call: 40 units, 2 s at 50 ms a unit
    await throttle(1)
    await throttle()  # ccxt passes None for "cost 1"
    await throttle(5)
    assert time.sleeps == [2.0, 0.05, 0.05]


async def test_idle_time_counts_so_a_request_after_a_pause_longer_than_the_debt_does_not_wait():
    time = FakeTime()
    throttle = limiter(time)
    await throttle(40)
    time.now += 5.0  # the next poll, 5 s later
    await throttle(1)
    assert time.sleeps == []  # ccxt 4.5's own bucket would have waited the whole 2 s here
    time.now += 0.5  # a pause shorter than the debt: only the rest is waited
    await throttle(40)
    await throttle(1)
    assert time.sleeps == [2.0]


async def test_idle_time_is_not_saved_up_for_a_burst():
    time = FakeTime()
    throttle = limiter(time)
    time.now += 3600.0
    for _ in range(4):
        await throttle(1)
    assert time.sleeps == [0.05, 0.05, 0.05]


async def test_concurrent_requests_start_in_the_order_they_asked_and_the_wait_is_counted():
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:  # the clock stands still: all three ask at once
        sleeps.append(round(seconds, 6))
        await asyncio.sleep(0)

    throttle = RateLimiter("testex", 0.1, clock=lambda: 1000.0, sleep=sleep)
    before = metrics.rate_limit_wait.labels(exchange="testex")._value.get()
    started: list[str] = []

    async def request(name: str, cost: float) -> None:
        await throttle(cost)
        started.append(name)

    await asyncio.gather(request("a", 10), request("b", 1), request("c", 1))
    assert started == ["a", "b", "c"]
    assert sleeps == [1.0, 1.1]  # b behind a's 10 units, c behind a's and b's
    assert metrics.rate_limit_wait.labels(exchange="testex")._value.get() - before == pytest.approx(2.1)


def test_a_negative_pace_is_refused():
    with pytest.raises(ValueError, match="seconds_per_unit"):
        RateLimiter("testex", -1.0)
