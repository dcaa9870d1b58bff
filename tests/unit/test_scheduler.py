"""The scheduler keeps every poller on its interval grid: in simulated time, and briefly in real time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import statistics
import time

import pytest
from structlog.testing import capture_logs

from collector import metrics
from collector.records import Ticker
from collector.scheduler import Scheduler


class VirtualTime:
    """A clock and a sleep that advance simulated time only when every task is waiting."""

    def __init__(self, lateness=lambda: 0.0) -> None:
        self.now = 1000.0
        self._sleepers: list = []
        self._order = itertools.count()
        self._lateness = lateness

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay), next(self._order), future))
        await future

    async def run_for(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            for _ in range(30):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if not self._sleepers or self._sleepers[0][0] > end:
                self.now = end
                return
            wake, _, future = heapq.heappop(self._sleepers)
            # The event loop wakes a sleeper a little late; that lateness must not accumulate.
            self.now = max(self.now, wake + self._lateness())
            if not future.done():
                future.set_result(None)


class FakeSource:
    """Stands in for an ExchangeSource: records when it was polled, works for `work()` seconds."""

    def __init__(self, name: str, sleep, clock, work=lambda: 0.0, fail=lambda n: False) -> None:
        self.name = name
        self.calls: dict[str, list[float]] = {}
        self._sleep, self._clock, self._work, self._fail = sleep, clock, work, fail

    async def poll(self, kind: str) -> list[Ticker]:
        calls = self.calls.setdefault(kind, [])
        calls.append(self._clock())
        duration = self._work()
        if duration:
            await self._sleep(duration)
        if self._fail(len(calls)):
            raise RuntimeError("bug in a poll")
        return [Ticker(self.name, "BTC/USDT:USDT", 1_800_000_000_000 + len(calls), 1_800_000_000_000)]


async def _run(scheduler: Scheduler, vt: VirtualTime, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await vt.run_for(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def _lateness(calls: list[float], interval: float) -> list[float]:
    first = calls[0]
    return [t - (first + round((t - first) / interval) * interval) for t in calls]


async def test_ticks_stay_on_the_grid_over_five_simulated_minutes_under_load():
    rng = random.Random(7)
    vt = VirtualTime(lateness=lambda: rng.uniform(0.0, 0.02))
    sources = [FakeSource(f"drift{i}", vt.sleep, vt.clock, work=lambda: rng.uniform(0.0, 0.7)) for i in range(3)]
    emitted: list = []
    scheduler = Scheduler(sources, intervals={"ticker": 1.0, "funding_rate": 5.0}, emit=emitted.extend,
                          clock=vt.clock, sleep=vt.sleep, rng=rng.random)
    await _run(scheduler, vt, 300.0)
    for source in sources:
        tickers, funding = source.calls["ticker"], source.calls["funding_rate"]
        assert len(tickers) >= 299 and len(funding) >= 59
        assert max(_lateness(tickers, 1.0)) < 0.05
        assert max(_lateness(funding, 5.0)) < 0.05
        # no tick lost and none doubled: consecutive polls exactly one interval apart on the grid
        assert [round(b - a) for a, b in itertools.pairwise(tickers)] == [1] * (len(tickers) - 1)
    assert len(emitted) == sum(len(s.calls["ticker"]) + len(s.calls["funding_rate"]) for s in sources)


async def test_an_overrunning_poll_skips_the_missed_ticks_counts_them_and_logs_sched_001():
    vt = VirtualTime()
    durations = iter([0.1, 2.5] + [0.1] * 100)
    source = FakeSource("overrun", vt.sleep, vt.clock, work=lambda: next(durations))
    scheduler = Scheduler([source], intervals={"ticker": 1.0}, emit=lambda r: None,
                          clock=vt.clock, sleep=vt.sleep, rng=lambda: 0.0)
    with capture_logs() as logs:
        await _run(scheduler, vt, 10.0)
    offsets = [round(t - source.calls["ticker"][0], 6) for t in source.calls["ticker"]]
    # tick 1 ran until 3.5: ticks 2 and 3 were skipped, not stacked; tick 4 ran on time
    assert offsets[:4] == [0.0, 1.0, 4.0, 5.0]
    assert metrics.REGISTRY.get_sample_value(
        "collector_ticks_skipped_total", {"exchange": "overrun", "kind": "ticker"}) == 2.0
    warnings = [e for e in logs if e["event"] == "ticks_skipped"]
    assert len(warnings) == 1 and warnings[0]["error_code"] == "SCHED_001" and warnings[0]["skipped"] == 2


async def test_a_slow_exchange_never_delays_another_exchanges_ticks():
    vt = VirtualTime()
    slow = FakeSource("slow", vt.sleep, vt.clock, work=lambda: 7.0)
    fast = FakeSource("fast", vt.sleep, vt.clock, work=lambda: 0.05)
    scheduler = Scheduler([slow, fast], intervals={"ticker": 1.0}, emit=lambda r: None,
                          clock=vt.clock, sleep=vt.sleep, rng=lambda: 0.0)
    await _run(scheduler, vt, 29.5)
    assert len(fast.calls["ticker"]) == 30
    assert max(_lateness(fast.calls["ticker"], 1.0)) < 1e-6
    assert len(slow.calls["ticker"]) == 5  # every 7 s of work, the next whole tick


async def test_a_crashing_poll_is_logged_once_with_its_traceback_and_the_loop_goes_on():
    vt = VirtualTime()
    source = FakeSource("crashy", vt.sleep, vt.clock, fail=lambda n: n <= 4)
    emitted: list = []
    scheduler = Scheduler([source], intervals={"ticker": 1.0}, emit=emitted.extend,
                          clock=vt.clock, sleep=vt.sleep, rng=lambda: 0.0)
    with capture_logs() as logs:
        await _run(scheduler, vt, 9.5)
    crashes = [e for e in logs if e["event"] == "poll_crashed"]
    assert len(crashes) == 1
    assert crashes[0]["error_code"] == "APP_002" and isinstance(crashes[0]["exc_info"], RuntimeError)
    assert len(source.calls["ticker"]) == 10
    assert len(emitted) == 6


async def test_a_failing_emit_is_logged_and_polling_continues():
    vt = VirtualTime()
    source = FakeSource("emitfail", vt.sleep, vt.clock)

    def emit(records):
        raise RuntimeError("queue closed")

    scheduler = Scheduler([source], intervals={"ticker": 1.0}, emit=emit,
                          clock=vt.clock, sleep=vt.sleep, rng=lambda: 0.0)
    with capture_logs() as logs:
        await _run(scheduler, vt, 3.5)
    assert len(source.calls["ticker"]) == 4
    assert {e["error_code"] for e in logs if e["event"] == "emit_failed"} == {"APP_002"}


async def test_pollers_start_at_small_jittered_offsets():
    vt = VirtualTime()
    sources = [FakeSource(f"jitter{i}", vt.sleep, vt.clock) for i in range(4)]
    offsets = iter([0.0, 0.3, 0.6, 0.9])
    scheduler = Scheduler(sources, intervals={"ticker": 30.0}, emit=lambda r: None, clock=vt.clock,
                          sleep=vt.sleep, max_jitter=1.0, rng=lambda: next(offsets))
    start = vt.now
    await _run(scheduler, vt, 1.0)
    firsts = sorted(round(s.calls["ticker"][0] - start, 6) for s in sources)
    assert firsts == [0.0, 0.3, 0.6, 0.9]


async def test_run_names_one_task_per_exchange_and_kind():
    vt = VirtualTime()
    sources = [FakeSource("binance", vt.sleep, vt.clock), FakeSource("okx", vt.sleep, vt.clock)]
    scheduler = Scheduler(sources, intervals={"ticker": 1.0, "funding_rate": 5.0}, emit=lambda r: None,
                          clock=vt.clock, sleep=vt.sleep, rng=lambda: 0.0)
    task = asyncio.create_task(scheduler.run())
    await vt.run_for(0.5)
    names = {t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("poll:")}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert names == {"poll:binance:ticker", "poll:binance:funding_rate", "poll:okx:ticker", "poll:okx:funding_rate"}


class Gathering:
    """A poll that returns only once every expected poll has started: concurrency, not timing."""

    def __init__(self, name: str, barrier: asyncio.Barrier) -> None:
        self.name = name
        self._barrier = barrier

    async def poll(self, kind: str) -> list[Ticker]:
        await self._barrier.wait()
        return [Ticker(self.name, "BTC/USDT:USDT", 1_800_000_000_000, 1_800_000_000_000)]


async def test_run_once_polls_every_source_and_kind_concurrently_and_returns_the_count():
    barrier = asyncio.Barrier(6)  # 3 sources x 2 kinds: one after another, the first waits forever
    sources = [Gathering(f"once{i}", barrier) for i in range(3)]
    emitted: list = []
    scheduler = Scheduler(sources, intervals={"ticker": 30.0, "funding_rate": 300.0}, emit=emitted.extend)
    async with asyncio.timeout(30):
        count = await scheduler.run_once()
    assert count == len(emitted) == 6


async def test_at_a_start_the_first_tickers_wait_for_the_first_open_interest_round_they_join():
    vt = VirtualTime()
    source = FakeSource("feeds", vt.sleep, vt.clock, work=lambda: 5.0)  # a 5 s per-symbol round
    scheduler = Scheduler([source], intervals={"ticker": 10.0, "funding_rate": 10.0, "open_interest": 60.0},
                          emit=lambda r: None, clock=vt.clock, sleep=vt.sleep, rng=lambda: 0.0)
    start = vt.now
    with capture_logs() as logs:
        await _run(scheduler, vt, 30.0)
    assert source.calls["open_interest"] == [start]
    assert source.calls["ticker"][0] == start + 5.0  # not before the open interest is in
    assert source.calls["funding_rate"][0] == start  # a kind fed by nothing does not wait
    # the tickers' grid starts there, not at the start: no tick counted as skipped for the wait
    assert source.calls["ticker"] == [start + 5.0, start + 15.0, start + 25.0]
    assert not [e for e in logs if e["event"] == "ticks_skipped"]


class Ordered:
    """Notes when each poll starts and ends; a poll takes a few turns of the event loop."""

    def __init__(self, name: str, log: list) -> None:
        self.name = name
        self._log = log

    async def poll(self, kind: str) -> list[Ticker]:
        self._log.append(("start", self.name, kind))
        for _ in range(5):
            await asyncio.sleep(0)
        self._log.append(("end", self.name, kind))
        return [Ticker(self.name, "BTC/USDT:USDT", 1_800_000_000_000, 1_800_000_000_000)]


async def test_run_once_collects_the_open_interest_before_the_tickers_that_join_it():
    log: list = []
    sources = [Ordered("once-a", log), Ordered("once-b", log)]
    scheduler = Scheduler(sources, intervals={"ticker": 30.0, "funding_rate": 300.0, "open_interest": 60.0},
                          emit=lambda r: None)
    async with asyncio.timeout(30):
        assert await scheduler.run_once() == 6
    for name in ("once-a", "once-b"):
        assert log.index(("end", name, "open_interest")) < log.index(("start", name, "ticker"))
        # the other kinds still run beside the open interest
        assert log.index(("start", name, "funding_rate")) < log.index(("end", name, "open_interest"))


async def test_real_time_ticks_stay_on_the_grid():
    # Real asyncio.sleep and time.monotonic (the simulated-time tests cover the arithmetic): the
    # bounds are ratios of the interval, generous enough for a loaded machine.
    interval, seconds = 0.5, 4.0
    rng = random.Random(3)
    sources = [FakeSource(f"real{i}", asyncio.sleep, time.monotonic,
                          work=lambda: rng.uniform(0.0, 0.3 * interval)) for i in range(3)]
    scheduler = Scheduler(sources, intervals={"ticker": interval}, emit=lambda r: None, max_jitter=0.02)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for source in sources:
        calls = source.calls["ticker"]
        assert 0.6 * seconds / interval <= len(calls) <= seconds / interval + 1
        lateness = [abs(t) for t in _lateness(calls, interval)]
        assert statistics.median(lateness) < 0.2 * interval, lateness
        # late ticks do not push the later ones: the last ticks are as close to the grid as the first
        assert statistics.median(lateness[-3:]) < 0.3 * interval, lateness
