"""Collection engine benchmark: 3 exchanges × N symbols from the simulator (its own process).

    python -m benchmarks.engine [--symbols 500] [--seconds 20]

Two phases over the same setup, ticker and funding-rate intervals of 1 s:
1. plain run: records/s and this process's CPU seconds per 10,000 records;
2. profiled run (cProfile): CPU inside ccxt's parsing of the responses (parse_tickers /
   parse_funding_rates / parse_open_interests, and its JSON decoding) against CPU in our code (normalize, dedup,
   staleness, metrics, scheduling, publishing to a bounded queue). Target: ours <= 25% of ccxt's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import os
import pstats
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

import structlog

from collector.config import CacheConfig, CircuitBreakerConfig, ExchangeConfig, PerformanceConfig, RetryConfig
from collector.exchanges.source import ExchangeSource
from collector.records import Record
from collector.scheduler import Scheduler
from exchange_simulator import binanceusdm, bybit, okx

EXCHANGES = {"binance": ("binanceusdm", binanceusdm), "bybit": ("bybit", bybit), "okx": ("okx", okx)}
INTERVALS = {"ticker": 1.0, "funding_rate": 1.0}
_CCXT_PARSE = {"parse_tickers", "parse_funding_rates", "parse_open_interests"}
_CCXT_JSON = {"parse_json"}
# Our code on the hot path: cumulative time (includes what they call) ...
_OURS_CUMULATIVE = {"_collect", "_after_poll", "_count", "_publish", "_next_tick", "publish"}
# ... and own time only (they await ccxt, whose time is counted on its side).
_OURS_OWN = {"poll", "_poll", "_fetch", "_call", "_request", "_tick", "_loop", "retry", "_refresh_markets",
             "fetch_parts", "fetch_part"}


class BoundedQueue:
    """Stands in for the pipeline's publish(): batches into a bounded queue, drained by a task."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self.queue: asyncio.Queue[Sequence[Record]] = asyncio.Queue(maxsize)
        self.records = 0

    def publish(self, records: Sequence[Record]) -> None:
        self.queue.put_nowait(records)
        self.records += len(records)

    async def drain(self) -> None:
        while True:
            await self.queue.get()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def simulator_process(symbols: int, *options: str):
    """The simulator in a process of its own (its CPU is not ours); its URL while it runs."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange_simulator", "--port", str(port), "--symbols", str(symbols), *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


async def run(url: str, seconds: float, profiler: cProfile.Profile | None) -> tuple[int, float, float]:
    semaphore = asyncio.Semaphore(50)
    async with contextlib.AsyncExitStack() as stack:
        sources = []
        for name, (ccxt_id, dialect) in EXCHANGES.items():
            config = ExchangeConfig(ccxt_id=ccxt_id, rate_limit=10000, timeout=10.0,
                                    ccxt_options=dialect.ccxt_options(url))
            source = ExchangeSource(name, config, performance=PerformanceConfig(), cache=CacheConfig(),
                                    retry=RetryConfig(), circuit_breaker=CircuitBreakerConfig(),
                                    semaphore=semaphore)
            sources.append(await stack.enter_async_context(source))
        sink = BoundedQueue()
        scheduler = Scheduler(sources, intervals=INTERVALS, emit=sink.publish)
        async with asyncio.TaskGroup() as group:
            drain = group.create_task(sink.drain(), name="bench:drain")
            await scheduler.run_once()  # warm-up: connections, caches
            sink.records = 0
            cpu, wall = time.process_time(), time.monotonic()
            if profiler:
                profiler.enable()
            runner = group.create_task(scheduler.run(), name="bench:scheduler")
            await asyncio.sleep(seconds)
            runner.cancel()
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            drain.cancel()
        return sink.records, cpu, wall


def split_profile(profiler: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profiler).stats  # (file, line, func) -> (cc, nc, tottime, cumtime, callers)
    figures = {"ccxt_parse": 0.0, "ccxt_json": 0.0, "ours": 0.0, "total": 0.0}
    for (filename, _, func), (_, _, own, cumulative, _) in stats.items():
        figures["total"] += own
        in_ccxt = f"{os.sep}ccxt{os.sep}" in filename
        ours = f"{os.sep}collector{os.sep}" in filename
        if in_ccxt and func in _CCXT_PARSE:
            figures["ccxt_parse"] += cumulative
        elif in_ccxt and func in _CCXT_JSON:
            figures["ccxt_json"] += cumulative
        elif ours and func in _OURS_CUMULATIVE:
            figures["ours"] += cumulative
        elif (ours or filename.endswith(("benchmarks/engine.py",))) and func in _OURS_OWN | {"publish"}:
            figures["ours"] += own
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    with simulator_process(args.symbols) as url:
        records, cpu, wall = asyncio.run(run(url, args.seconds, None))
        profiler = cProfile.Profile()
        p_records, _, _ = asyncio.run(run(url, args.seconds, profiler))
    figures = split_profile(profiler)
    ratio = figures["ours"] / figures["ccxt_parse"] if figures["ccxt_parse"] else float("nan")
    ratio_json = figures["ours"] / (figures["ccxt_parse"] + figures["ccxt_json"]) if figures["ccxt_parse"] else float("nan")
    print(f"exchanges: 3 x {args.symbols} symbols, ticker + funding_rate every 1 s, {args.seconds:.0f} s per phase")
    print(f"records/s:                    {records / wall:,.0f}  ({records:,} records in {wall:.1f} s)")
    print(f"CPU s per 10,000 records:     {cpu / records * 10_000:.3f}  (this process; the simulator runs apart)")
    print(f"profiled phase: {p_records:,} records; CPU seconds by part")
    print(f"  ccxt parse_tickers/parse_funding_rates: {figures['ccxt_parse']:.3f}")
    print(f"  ccxt JSON decoding (parse_json):        {figures['ccxt_json']:.3f}")
    print(f"  ours (normalize, dedup, staleness, metrics, schedule, queue): {figures['ours']:.3f}")
    print(f"  everything profiled:                    {figures['total']:.3f}")
    print(f"ours / ccxt parsing:          {ratio:.1%}  (target <= 25%)")
    print(f"ours / ccxt parsing + JSON:   {ratio_json:.1%}")


if __name__ == "__main__":
    main()
