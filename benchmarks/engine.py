"""Collection engine benchmark: 3 exchanges × N symbols from the simulator (its own process).

    python -m benchmarks.engine [--symbols 500] [--seconds 20] [--repeat 3] [--decoder ccxt|native]

`--decoder native` (the venues' JSON decoded by collector/venues/, no ccxt parser): plain runs of
both decoders, alternated `--repeat` times in the same invocation, the median CPU seconds per
10,000 records of each and native's share of ccxt's (target <= 30%); then where native's CPU goes
by module (one profiled run). Without it (`ccxt`, the reference) the figures below:

The kinds are polled in the proportions of the defaults (ticker_interval 30 s,
funding_rate_interval 300 s), 30 times faster: tickers every 1 s, funding rates every 10 s.
1. plain run: records/s and this process's CPU seconds per 10,000 records;
2. profiled runs (cProfile), `--repeat` of them, the median reported: CPU inside ccxt's parsing
   of the responses (parse_tickers / parse_funding_rates / parse_open_interests, the rows our
   raw calls parse, and its JSON decoding) against CPU in our code: everything in collector/
   (normalize, dedup, staleness, metrics, scheduling, the response cache, the rate limiter) and
   publishing to a bounded queue; see `split_profile`. Target: ours <= 25% of ccxt's.
3. one profiled run of each kind alone, every 1 s: the share per kind. ccxt parses a funding
   rate in a fraction of a ticker's time while our work per record is about the same, so the
   funding rates' share is the higher one; the mix weighs each as the defaults do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

import structlog

from collector.config import CacheConfig, CircuitBreakerConfig, ExchangeConfig, PerformanceConfig, RetryConfig
from collector.exchanges.source import ExchangeSource
from collector.records import Record
from collector.runner import settle_heap
from collector.scheduler import Scheduler
from exchange_simulator import binanceusdm, bybit, okx

EXCHANGES = {"binance": ("binanceusdm", binanceusdm), "bybit": ("bybit", bybit), "okx": ("okx", okx)}
INTERVALS = {"ticker": 1.0, "funding_rate": 10.0}  # the defaults' 30 s : 300 s, 30 times faster
ALONE = ({"ticker": 1.0}, {"funding_rate": 1.0})
_CCXT_PARSE = {"parse_tickers", "parse_funding_rates", "parse_open_interests"}
_CCXT_JSON = {"parse_json"}
# ccxt work that only our code asks for: the response cache signs a request to key it.
_CCXT_FOR_US = {"sign"}
# The benchmark's stand-in for the pipeline's publish() is ours too.
_OURS_HERE = {"publish"}


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
def simulator_process(symbols: int, *options: str, cwd: str | None = None):
    """The simulator in a process of its own (its CPU is not ours); its URL while it runs. `cwd`:
    run the `exchange_simulator` package found there (another checkout's, to compare)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange_simulator", "--port", str(port), "--symbols", str(symbols), *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
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


async def run(url: str, seconds: float, profiler: cProfile.Profile | None,
              intervals: dict[str, float] = INTERVALS, *, settle: bool = True,
              decoder: str = "ccxt") -> tuple[int, float, float]:
    semaphore = asyncio.Semaphore(50)
    async with contextlib.AsyncExitStack() as stack:
        sources = []
        for name, (ccxt_id, dialect) in EXCHANGES.items():
            config = ExchangeConfig(ccxt_id=ccxt_id, rate_limit=10000, timeout=10.0, decoder=decoder,
                                    ccxt_options=dialect.ccxt_options(url))
            source = ExchangeSource(name, config, performance=PerformanceConfig(), cache=CacheConfig(),
                                    retry=RetryConfig(), circuit_breaker=CircuitBreakerConfig(),
                                    semaphore=semaphore)
            sources.append(await stack.enter_async_context(source))
        if settle:
            settle_heap()  # as the daemon does once started
        sink = BoundedQueue()
        scheduler = Scheduler(sources, intervals=intervals, emit=sink.publish)
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


def profile_stats(profiler: cProfile.Profile) -> dict[tuple, tuple]:
    """pstats' table, one row per function: pstats keys a row by (file, line, name) and keeps the
    last of equal keys, which drops every dataclass's generated `__init__` (all `<string>:2`) but
    one, our records' construction among them. Here the code object joins the key."""
    def key(code) -> tuple:
        if isinstance(code, str):  # a builtin: pstats' label, rows of one label added up
            return ("~", 0, code, code)
        return (code.co_filename, code.co_firstlineno, code.co_name, code)

    def add(row: list, entry) -> None:  # pstats' figures: primitive calls, calls, own, cumulative
        for i, value in enumerate((entry.callcount - entry.reccallcount, entry.callcount,
                                   entry.inlinetime, entry.totaltime)):
            row[i] += value

    own: dict[tuple, list] = {}
    callers: dict[tuple, dict[tuple, list]] = {}
    for entry in profiler.getstats():
        add(own.setdefault(key(entry.code), [0, 0, 0.0, 0.0]), entry)
        for sub in entry.calls or ():
            add(callers.setdefault(key(sub.code), {}).setdefault(key(entry.code), [0, 0, 0.0, 0.0]), sub)
    return {k: (*row, {c: tuple(f) for c, f in callers.get(k, {}).items()}) for k, row in own.items()}


def split_profile(profiler: cProfile.Profile) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds (ccxt's parsing, its JSON decoding, ours, everything profiled), and ours by module.

    Ours is the own time of every function in collector/ (a coroutine's own time leaves out the
    ccxt request it awaits), plus what those functions call outside both collector/ and ccxt
    (builtins, prometheus_client, dataclasses, structlog, asyncio), counted from our call sites
    only, and ccxt's signing done for the response cache's key. A callee that calls back into
    collector/ (contextlib, the event loop) counts only its own time, so nothing is counted twice.
    ccxt's parsing is the cumulative time of its bulk parsers, plus the single-row parsers our
    raw calls (plans.py) invoke directly.
    """
    stats = profile_stats(profiler)  # (file, line, func, code) -> (cc, nc, tottime, cumtime, callers)

    def ours(key: tuple) -> bool:
        filename, _, func, _ = key
        return f"{os.sep}collector{os.sep}" in filename or (
            filename.endswith(f"benchmarks{os.sep}engine.py") and func in _OURS_HERE)

    def in_ccxt(key: tuple) -> bool:
        return f"{os.sep}ccxt{os.sep}" in key[0]

    calls_back = {caller for key, (*_, callers) in stats.items() if ours(key) for caller in callers}
    figures = {"ccxt_parse": 0.0, "ccxt_json": 0.0, "ours": 0.0, "total": 0.0}
    by_module: dict[str, float] = {}
    for key, (_, _, own, cumulative, callers) in stats.items():
        figures["total"] += own
        func = key[2]
        if in_ccxt(key) and func in _CCXT_PARSE:
            figures["ccxt_parse"] += cumulative
            continue
        if in_ccxt(key) and func in _CCXT_JSON:
            figures["ccxt_json"] += cumulative
            continue
        if ours(key):
            by_module[key[0]] = by_module.get(key[0], 0.0) + own
            continue
        for caller, (_, _, caller_own, caller_cumulative) in callers.items():
            if not ours(caller):
                continue
            if in_ccxt(key) and func.startswith("parse"):
                figures["ccxt_parse"] += caller_cumulative
            elif not in_ccxt(key) or func in _CCXT_FOR_US:
                spent = caller_own if key in calls_back else caller_cumulative
                by_module[caller[0]] = by_module.get(caller[0], 0.0) + spent
    figures["ours"] = sum(by_module.values())
    modules = {filename.rpartition(os.sep + "collector" + os.sep)[2] or os.path.basename(filename): seconds
               for filename, seconds in sorted(by_module.items(), key=lambda item: -item[1])}
    return figures, modules


def profiled(url: str, seconds: float, intervals: dict[str, float], settle: bool = True) -> tuple[float, int, dict, dict]:
    """One profiled run: ours / ccxt's parsing, the records, the figures and ours by module."""
    profiler = cProfile.Profile()
    records, _, _ = asyncio.run(run(url, seconds, profiler, intervals, settle=settle))
    figures, modules = split_profile(profiler)
    ratio = figures["ours"] / figures["ccxt_parse"] if figures["ccxt_parse"] else float("nan")
    return ratio, records, figures, modules


def compare_decoders(url: str, seconds: float, repeat: int, settle: bool) -> None:
    """Plain runs of ccxt and native, alternated; medians of CPU s per 10,000 records."""
    per_record: dict[str, list[float]] = {"ccxt": [], "native": []}
    delivered: dict[str, list[int]] = {"ccxt": [], "native": []}
    for _ in range(max(1, repeat)):
        for decoder in per_record:
            records, cpu, _ = asyncio.run(run(url, seconds, None, settle=settle, decoder=decoder))
            per_record[decoder].append(cpu / records * 10_000)
            delivered[decoder].append(records)
    median = {decoder: sorted(runs)[len(runs) // 2] for decoder, runs in per_record.items()}
    for decoder, runs in per_record.items():
        # The records each run delivered: a decoder that falls behind polls (and delivers) less,
        # its CPU per record stays comparable.
        print(f"CPU s per 10,000 records, {decoder + ':':<8}{median[decoder]:.3f}  (median; runs "
              f"{', '.join(f'{r:.3f}' for r in runs)}; records {', '.join(f'{n:,}' for n in delivered[decoder])})")
    print(f"native / ccxt CPU per record: {median['native'] / median['ccxt']:.1%}  (target <= 30%)")
    profiler = cProfile.Profile()
    records, _, _ = asyncio.run(run(url, seconds, profiler, settle=settle, decoder="native"))
    figures, modules = split_profile(profiler)
    print(f"native, profiled ({records:,} records): ours {figures['ours']:.3f} CPU s, of which")
    for name, spent in list(modules.items())[:6]:
        print(f"    {name:<36}{spent:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3, help="profiled runs of the mix (median)")
    parser.add_argument("--no-settle-heap", dest="settle", action="store_false",
                        help="leave the garbage collector as Python sets it (to see what the daemon's "
                             "collector.runner.settle_heap saves)")
    parser.add_argument("--decoder", choices=("ccxt", "native"), default="ccxt",
                        help="native: compare both decoders' CPU per record in this run")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.decoder == "native":
        print(f"exchanges: 3 x {args.symbols} symbols, tickers every 1 s, funding rates every 10 s, "
              f"{args.seconds:.0f} s per run, decoders ccxt and native alternated {max(1, args.repeat)} times")
        with simulator_process(args.symbols) as url:
            compare_decoders(url, args.seconds, args.repeat, args.settle)
        return

    with simulator_process(args.symbols) as url:
        records, cpu, wall = asyncio.run(run(url, args.seconds, None, settle=args.settle))
        runs = sorted((profiled(url, args.seconds, INTERVALS, args.settle) for _ in range(max(1, args.repeat))),
                      key=lambda result: result[0])
        alone = {next(iter(intervals)): profiled(url, args.seconds, intervals, args.settle) for intervals in ALONE}
    ratio, p_records, figures, modules = runs[len(runs) // 2]
    ratio_json = figures["ours"] / (figures["ccxt_parse"] + figures["ccxt_json"]) if figures["ccxt_parse"] else float("nan")
    print(f"exchanges: 3 x {args.symbols} symbols, tickers every 1 s, funding rates every 10 s, "
          f"{args.seconds:.0f} s per run{'' if args.settle else ', heap not settled'}")
    print(f"records/s:                    {records / wall:,.0f}  ({records:,} records in {wall:.1f} s)")
    print(f"CPU s per 10,000 records:     {cpu / records * 10_000:.3f}  (this process; the simulator runs apart)")
    print(f"profiled runs: {len(runs)}; the median one, {p_records:,} records; CPU seconds by part")
    print(f"  ccxt parsers (bulk, and rows our raw calls parse): {figures['ccxt_parse']:.3f}")
    print(f"  ccxt JSON decoding (parse_json):        {figures['ccxt_json']:.3f}")
    print(f"  ours (all of collector/, and the queue): {figures['ours']:.3f}, of which")
    for name, seconds in list(modules.items())[:5]:
        print(f"    {name:<36}{seconds:.3f}")
    print(f"  everything profiled:                    {figures['total']:.3f}")
    print(f"ours / ccxt parsing:          {ratio:.1%}  (median; runs {', '.join(f'{r[0]:.1%}' for r in runs)}; "
          "target <= 25%)")
    print(f"ours / ccxt parsing + JSON:   {ratio_json:.1%}")
    for kind, (kind_ratio, kind_records, _, _) in alone.items():
        print(f"  {kind} alone, every 1 s: {kind_ratio:.1%}  ({kind_records:,} records)")


if __name__ == "__main__":
    main()
