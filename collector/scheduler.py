"""Periodic polling: one named task per (exchange, kind), ticking on a fixed grid.

Tick n of a poller is due at `start + n * interval`, computed from the start, never from the
previous tick, so lateness does not accumulate over hours. A poll that overruns is not stacked
behind: the ticks it missed are skipped and counted (SCHED_001). Each poller is its own task, so
one slow exchange never delays another's ticks. Pollers start at small jittered offsets so the
exchanges are not all hit in the same millisecond; a kind that joins what another gathers
(`_FED_BY`: the tickers, binance's open interest) starts its grid after that kind's first round.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, Protocol

import structlog

from collector import metrics
from collector.config import AppConfig
from collector.errors import ErrorCode, one_line
from collector.records import Record
from collector.resilience.response_cache import reuse_within

log = structlog.get_logger(__name__)

_EPSILON = 1e-9  # float slack when asking "is the next deadline already past?"
# A kind whose poll joins what another kind's poll gathers: its first poll (at a start, and in
# --once) waits for that kind's first round, or binance's first tickers (all of --once's) would
# be stored without the open interest fetched in the same run.
_FED_BY: Final = {"ticker": "open_interest"}


def poll_intervals(config: AppConfig) -> dict[str, float]:
    """Seconds between polls per kind of poll; a kind switched off (0) is left out."""
    intervals = {"ticker": config.ticker_interval, "funding_rate": config.funding_rate_interval}
    if config.open_interest_interval:
        intervals["open_interest"] = config.open_interest_interval
    if config.funding_history_days:
        # Settlements are looked for at funding cadence; only symbols whose next one is due ask.
        intervals["funding_settlement"] = config.funding_rate_interval
    return intervals


class Pollable(Protocol):
    name: str

    async def poll(self, kind: str) -> list[Record]: ...


class Scheduler:
    def __init__(
        self,
        sources: Sequence[Pollable],
        *,
        intervals: Mapping[str, float],
        emit: Callable[[Sequence[Record]], object],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_jitter: float = 1.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._sources = list(sources)
        self._intervals = dict(intervals)
        self._emit = emit
        self._clock = clock
        self._sleep = sleep
        self._max_jitter = max_jitter
        self._rng = rng
        self._crashing: set[tuple[str, str]] = set()
        self._overrunning: set[tuple[str, str]] = set()

    async def run(self) -> None:
        """Poll forever; returns or raises only when cancelled."""
        async with asyncio.TaskGroup() as group:
            for source in self._sources:
                firsts = self._first_rounds()
                for kind, interval in self._intervals.items():
                    group.create_task(self._loop(source, kind, interval, firsts), name=f"poll:{source.name}:{kind}")

    async def run_once(self) -> int:
        """One round of every source and kind, concurrently (a kind fed by another after it);
        returns the records emitted."""
        async with asyncio.TaskGroup() as group:
            tasks = []
            for source in self._sources:
                firsts = self._first_rounds()
                tasks += [group.create_task(self._once(source, kind, interval, firsts),
                                            name=f"once:{source.name}:{kind}")
                          for kind, interval in self._intervals.items()]
        return sum(task.result() for task in tasks)

    def _first_rounds(self) -> dict[str, asyncio.Event]:
        """Per kind of one source: set once its first round is over (done, failed or crashed)."""
        return {kind: asyncio.Event() for kind in self._intervals}

    async def _fed(self, kind: str, firsts: Mapping[str, asyncio.Event]) -> None:
        feeder = firsts.get(_FED_BY.get(kind, ""))
        if feeder is not None:
            await feeder.wait()

    async def _once(self, source: Pollable, kind: str, interval: float,
                    firsts: Mapping[str, asyncio.Event]) -> int:
        await self._fed(kind, firsts)
        try:
            return await self._tick(source, kind, interval)
        finally:
            firsts[kind].set()

    async def _loop(self, source: Pollable, kind: str, interval: float,
                    firsts: Mapping[str, asyncio.Event]) -> None:
        await self._fed(kind, firsts)  # the grid starts after the feeding kind's first round
        start = self._clock() + self._rng() * min(self._max_jitter, interval * 0.1)
        tick = 0
        while True:
            delay = start + tick * interval - self._clock()
            if delay > 0:
                await self._sleep(delay)
            await self._tick(source, kind, interval)
            firsts[kind].set()
            tick = self._next_tick(source.name, kind, start, interval, tick)

    def _next_tick(self, name: str, kind: str, start: float, interval: float, tick: int) -> int:
        """The next tick whose deadline has not passed yet; the ones in between are skipped."""
        due = math.ceil((self._clock() - start) / interval - _EPSILON)
        following = tick + 1
        key = (name, kind)
        if due <= following:
            self._overrunning.discard(key)
            return following
        skipped = due - following
        metrics.ticks_skipped.labels(name, kind).inc(skipped)
        level = log.debug if key in self._overrunning else log.warning
        level("ticks_skipped", exchange=name, kind=kind, skipped=skipped, interval=interval,
              error_code=ErrorCode.SCHED_001)
        self._overrunning.add(key)
        return due

    async def _tick(self, source: Pollable, kind: str, interval: float) -> int:
        key = (source.name, kind)
        try:
            # A poll may be served a cached response younger than half its interval, so never
            # its own previous poll's (an interval old). Sources without a response cache ignore it.
            with reuse_within(interval / 2):
                records = await source.poll(kind)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the loop must go on; the traceback is logged once per streak
            if key not in self._crashing:
                self._crashing.add(key)
                log.error("poll_crashed", exchange=source.name, kind=kind, error_code=ErrorCode.APP_002,
                          error=one_line(err), exc_info=err)
            return 0
        self._crashing.discard(key)
        if not records:
            return 0
        return await self._publish(key, records)

    async def _publish(self, key: tuple[str, str], records: Sequence[Record]) -> int:
        try:
            result = self._emit(records)
            if inspect.isawaitable(result):
                await result  # the pipeline returns once the records are journaled
        except Exception as err:
            log.error("emit_failed", exchange=key[0], kind=key[1], records=len(records),
                      error_code=ErrorCode.APP_002, error=one_line(err), exc_info=err)
            return 0
        return len(records)
