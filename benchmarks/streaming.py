"""Streaming benchmark: 3 exchanges × N symbols over the simulator's websockets (its own process),
`--tick` seconds between market steps (0.1 = 10 updates/s per symbol), into PostgreSQL.

    python -m benchmarks.streaming [--symbols 500] [--tick 0.1] [--seconds 20] [--intervals 1.0 0]
                                   [--decoder ccxt|native] [--warmup 4]

`--decoder native` streams through the daemon's own websocket connections and the venue
decoders (collector/streams/native.py); `ccxt` (the default) through ccxt pro.

First the baseline (`--no-bare` skips it): the loop a user would write with ccxt pro alone, the
same subscriptions over the same connections, each watched again as soon as it returns; its CPU
seconds per 10,000 frames, plain and under cProfile (ccxt pro's own share). Then per
`stream_interval`: frames/s the simulator pushed and updates/s the stream owners took; this
process's CPU seconds per 10,000 frames, against the bare loop's (what the collector costs on top
of ccxt pro on its own, or saves, sinks and journal included), and split by cProfile into ccxt
pro (frame decoding and parsing, its client) and ours (collector/: conflation, normalization,
watchdog, pipeline, sink writer), ours also against ccxt pro's share in the bare loop (the
conflation makes ccxt pro parse fewer frames in the daemon than on its own); and latency from the
frame's exchange event time to the record's PostgreSQL commit, p50 / p99 (target: p99 <=
flush_interval + 250 ms). Needs the PostgreSQL server the tests use (127.0.0.1:5432, superuser
postgres, trust); a throwaway database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import logging
import os
import pstats
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import asyncpg
import ccxt.pro as ccxt_pro
import psutil
import structlog

from benchmarks.engine import simulator_process
from collector.config import (BatchProcessingConfig, CacheConfig, CircuitBreakerConfig, DatabaseConfig,
                              ExchangeConfig, PerformanceConfig, PostgresConfig, RetryConfig)
from collector.exchanges import market_selection as mk
from collector.exchanges.source import ExchangeSource
from collector.streams.owner import StreamOwner
from collector.streams.dialects import DIALECTS, chunks
from collector.journal import Journal
from collector.pipeline import Pipeline
from collector.runner import settle_heap
from collector.sinks.postgres import PostgresSink
from collector.sinks.writer import BatchWriter
from collector.shard import ShardConfig
from exchange_simulator import Simulator

EXCHANGES = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}
FLUSH_INTERVAL = 1.0


class TimedPostgresSink(PostgresSink):
    """The real sink; notes event time → commit for every record it confirmed."""

    latencies_ms: list[int]

    async def write(self, records) -> None:
        await super().write(records)
        now = int(time.time() * 1000)
        self.latencies_ms.extend(now - record.ts for record in records)


def others_cpu(port: str | None = None) -> dict[str, float]:
    """CPU seconds so far of what shares the machine with us: the simulator (our child process,
    or the one listening on `port`) and PostgreSQL's processes (the server and its backends)."""
    def cpu(processes) -> float:
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()  # children: PostgreSQL's backends that have exited
                total += times.user + times.system + times.children_user + times.children_system
        return total

    candidates = psutil.Process().children() if port is None else psutil.process_iter()
    simulators = []
    for process in candidates:
        with contextlib.suppress(psutil.Error):
            command = process.cmdline()
            if "exchange_simulator" in " ".join(command) and (port is None or port in command):
                simulators.append(process)
    postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres", "postmaster")]
    return {"simulator": cpu(simulators), "postgres": cpu(postgres)}


class CollectorPauses:
    """The cyclic garbage collector's collections while installed: how many, their total and
    longest wall time (every stream and writer stands still for each)."""

    def __init__(self) -> None:
        self.count, self.total, self.longest, self._started = 0, 0.0, 0.0, 0.0

    def __enter__(self) -> CollectorPauses:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._note)

    def _note(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.count, self.total, self.longest = self.count + 1, self.total + pause, max(self.longest, pause)


def frames_sent(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_sim/stats", timeout=10) as response:
        return sum(json.load(response)["ws_frames"].values())


@contextlib.asynccontextmanager
async def throwaway_database():
    name = f"bench_streaming_{os.getpid()}"
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PostgresConfig(enabled=True, host="127.0.0.1", user="postgres", database=name)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def exchange_source(name: str, config: ExchangeConfig, shard: ShardConfig = ShardConfig()) -> ExchangeSource:
    """The REST source (markets, fallback) of one exchange, the daemon's defaults otherwise."""
    return ExchangeSource(name, config, performance=PerformanceConfig(), cache=CacheConfig(), retry=RetryConfig(),
                          circuit_breaker=CircuitBreakerConfig(), semaphore=asyncio.Semaphore(50), shard=shard)


async def run(url: str, database: PostgresConfig, interval: float, seconds: float,
              profiler: cProfile.Profile | None, *, settle: bool = True, decoder: str = "ccxt",
              shard: ShardConfig = ShardConfig(), warmup: float = 2.0) -> dict:
    sim_options = Simulator(port=int(url.rsplit(":", 1)[1]))
    sink = TimedPostgresSink(database, DatabaseConfig())
    sink.latencies_ms = []
    with tempfile.TemporaryDirectory() as spool:
        batch = BatchProcessingConfig(batch_size=5000, flush_interval=FLUSH_INTERVAL, spool_dir=Path(spool))
        async with contextlib.AsyncExitStack() as stack:
            journal = await stack.enter_async_context(Journal(Path(spool), max_bytes=2**34, frame_records=5000))
            writer = await stack.enter_async_context(
                BatchWriter(sink, journal, batch, RetryConfig(), CircuitBreakerConfig()))
            pipeline = Pipeline(journal, [writer])
            owners = []
            for name, ccxt_id in EXCHANGES.items():
                config = ExchangeConfig(ccxt_id=ccxt_id, rate_limit=10000, mode="stream", stream_interval=interval,
                                        decoder=decoder, ccxt_options=sim_options.ccxt_options(ccxt_id))
                source = await stack.enter_async_context(exchange_source(name, config, shard))
                owners.append(StreamOwner(source, config, ticker_interval=1.0, retry=RetryConfig(),
                                          publish=pipeline.publish))
            if settle:
                settle_heap()  # as the daemon does once started, before the streams open
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(o.run(), name=f"bench:stream:{o.name}") for o in owners]
                deadline = time.monotonic() + 60
                while not all(o.state == "up" for o in owners) and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await asyncio.sleep(warmup)
                sink.latencies_ms.clear()
                frames, updates = frames_sent(url), sum(o.updates for o in owners)
                port = url.rsplit(":", 1)[1]
                others = others_cpu(port)
                cpu, wall = time.process_time(), time.monotonic()
                if profiler:
                    profiler.enable()
                with CollectorPauses() as pauses:
                    await asyncio.sleep(seconds)
                if profiler:
                    profiler.disable()
                cpu, wall = time.process_time() - cpu, time.monotonic() - wall
                others = {name: seconds - others[name] for name, seconds in others_cpu(port).items()}
                frames, updates = frames_sent(url) - frames, sum(o.updates for o in owners) - updates
                states = {o.name: o.state for o in owners}
                for task in tasks:
                    task.cancel()
            await pipeline.flush()
    latencies = sorted(sink.latencies_ms)
    return {"frames": frames, "updates": updates, "cpu": cpu, "wall": wall, "latencies": latencies,
            "states": states, "others": others, "pauses": pauses}


async def bare_run(url: str, seconds: float, profiler: cProfile.Profile | None = None, *,
                   warmup: float = 4.0) -> dict:
    """The hand-rolled ccxt pro loop a user would write instead of the daemon, as the baseline
    of CPU per frame: the same subscriptions over the same connections (each channel's watch
    method per chunk of symbols, a ccxt pro instance each), watched again as soon as it
    returns, nothing conflated, normalized or written anywhere."""
    sim_options = Simulator(port=int(url.rsplit(":", 1)[1]))

    async def watch(exchange, method: str, symbols: list[str], params: dict) -> None:
        while True:
            await getattr(exchange, method)(symbols, dict(params))

    async with contextlib.AsyncExitStack() as stack:
        loops = []
        for name, ccxt_id in EXCHANGES.items():
            config = ExchangeConfig(ccxt_id=ccxt_id, rate_limit=10000, ccxt_options=sim_options.ccxt_options(ccxt_id))
            source = await stack.enter_async_context(exchange_source(name, config))
            dialect = DIALECTS[ccxt_id]
            for channel in dialect.channels:
                for part in chunks(sorted(source.symbols), dialect.symbols_per_connection):
                    exchange = getattr(ccxt_pro, ccxt_id)(mk.ccxt_config(ccxt_id, config))
                    exchange.set_markets(source.exchange.markets, source.exchange.currencies)
                    stack.push_async_callback(exchange.close)
                    loops.append((exchange, channel.method, part, channel.params))
        tasks = [asyncio.create_task(watch(*loop), name="bench:bare") for loop in loops]
        try:
            await asyncio.sleep(warmup)  # every subscription made and answered
            frames = frames_sent(url)
            cpu, wall = time.process_time(), time.monotonic()
            if profiler:
                profiler.enable()
            await asyncio.sleep(seconds)
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            frames = frames_sent(url) - frames
            ended = [task for task in tasks if task.done()]
            if ended:  # a watch that failed stopped costing CPU: the baseline would be too low
                raise RuntimeError(f"{len(ended)} of {len(tasks)} bare ccxt pro loops ended: {ended[0].exception()!r}")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return {"frames": frames, "cpu": cpu, "wall": wall}


def split_profile(profiler: cProfile.Profile) -> dict[str, float]:
    """Own CPU time by where the code lives: ccxt (pro and base), ours (collector/), the rest."""
    figures = {"ccxt": 0.0, "ours": 0.0, "rest": 0.0}
    for (filename, _, _), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():
        part = "ccxt" if f"{os.sep}ccxt{os.sep}" in filename else (
            "ours" if f"{os.sep}collector{os.sep}" in filename else "rest")
        figures[part] += own
    return figures


def percentile(values: list[int], q: float) -> float:
    return float(values[min(len(values) - 1, int(q * len(values)))]) if values else float("nan")


def report_bare(bare: dict) -> None:
    frames = max(1, bare["frames"])
    print("bare ccxt pro loop (the baseline: watch again, nothing else):")
    print(f"  frames/s pushed by the simulator: {bare['frames'] / bare['wall']:,.0f}")
    print(f"  CPU s per 10,000 frames (this process): {bare['cpu'] / frames * 10_000:.3f}, "
          f"cores busy {bare['cpu'] / bare['wall']:.2f}; profiled, ccxt pro's "
          f"{bare['ccxt_per_frame'] * 10_000:.3f}")


def report(interval: float, plain: dict, profiled: dict, figures: dict[str, float], bare: dict | None) -> None:
    frames = max(1, plain["frames"])
    per_frame = plain["cpu"] / frames
    print(f"stream_interval {interval:g}:  streams {plain['states']}")
    print(f"  frames/s pushed by the simulator: {plain['frames'] / plain['wall']:,.0f}")
    print(f"  updates/s taken (after conflation): {plain['updates'] / plain['wall']:,.0f}")
    print(f"  CPU s per 10,000 frames (this process): {per_frame * 10_000:.3f}" + (
        f"; against the bare ccxt pro loop {per_frame / (bare['cpu'] / max(1, bare['frames'])) - 1:+.1%} "
        f"(sinks, journal and all; {per_frame / (bare['cpu'] / max(1, bare['frames'])):.2f}x, "
        f"target <= 0.25x with --decoder native)" if bare and bare["cpu"] else ""))
    pframes = max(1, profiled["frames"])
    print(f"  profiled, CPU s per 10,000 frames: ccxt pro {figures['ccxt'] / pframes * 10_000:.3f}, "
          f"ours {figures['ours'] / pframes * 10_000:.3f}, rest (asyncio, aiohttp, asyncpg, json) "
          f"{figures['rest'] / pframes * 10_000:.3f}; ours / ccxt pro = "
          f"{figures['ours'] / figures['ccxt'] if figures['ccxt'] else float('nan'):.1%}")
    if bare:  # our code per frame against what ccxt pro costs per frame on its own
        print(f"  ours against ccxt pro in the bare loop: "
              f"{figures['ours'] / pframes / bare['ccxt_per_frame']:.1%} (target <= 25%)")
    wall, others = plain["wall"], plain["others"]
    print(f"  cores busy: this process {plain['cpu'] / wall:.2f}, simulator {others['simulator'] / wall:.2f}, "
          f"PostgreSQL {others['postgres'] / wall:.2f}; of {psutil.cpu_count()} "
          f"(load average {os.getloadavg()[0]:.1f})")
    pauses = plain["pauses"]
    print(f"  garbage collections: {pauses.count} ({pauses.count / wall:.1f}/s), {pauses.total / wall:.1%} of the time, "
          f"longest {pauses.longest * 1000:.0f} ms")
    lat = plain["latencies"]
    print(f"  event time -> PostgreSQL commit: p50 {percentile(lat, 0.5):.0f} ms, p99 {percentile(lat, 0.99):.0f} ms "
          f"over {len(lat):,} records (target p99 <= {FLUSH_INTERVAL * 1000 + 250:.0f} ms; "
          f"mean {statistics.fmean(lat) if lat else float('nan'):.0f} ms)")


async def measure(url: str, intervals: list[float], seconds: float, settle: bool, bare: bool,
                  decoder: str = "ccxt", warmup: float | None = None) -> None:
    """`warmup`: seconds before each measured phase; None, the defaults (4 s for the bare loop's
    subscriptions, 2 s once the streams are up)."""
    bare_warmup = 4.0 if warmup is None else warmup
    run_warmup = 2.0 if warmup is None else warmup
    baseline = None
    if bare:
        baseline = await bare_run(url, seconds, warmup=bare_warmup)
        profiler = cProfile.Profile()
        profiled = await bare_run(url, seconds, profiler, warmup=bare_warmup)
        baseline["ccxt_per_frame"] = split_profile(profiler)["ccxt"] / max(1, profiled["frames"])
        report_bare(baseline)
    async with throwaway_database() as database:
        for interval in intervals:
            plain = await run(url, database, interval, seconds, None, settle=settle, decoder=decoder,
                              warmup=run_warmup)
            profiler = cProfile.Profile()
            profiled = await run(url, database, interval, seconds, profiler, settle=settle, decoder=decoder,
                                 warmup=run_warmup)
            report(interval, plain, profiled, split_profile(profiler), baseline)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between updates of a symbol")
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--intervals", type=float, nargs="+", default=[1.0, 0.0])
    parser.add_argument("--no-settle-heap", dest="settle", action="store_false",
                        help="leave the garbage collector as Python sets it (to see what the daemon's "
                             "collector.runner.settle_heap saves)")
    parser.add_argument("--no-bare", dest="bare", action="store_false",
                        help="skip the bare ccxt pro loop measured first as the baseline")
    parser.add_argument("--decoder", choices=("ccxt", "native"), default="ccxt",
                        help="the stream owners' decoder (the bare loop is ccxt pro's either way)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before each measured phase (default 4 for the bare loop, 2 once the "
                             "streams are up); a smoke run on a few symbols needs less")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"3 exchanges x {args.symbols} symbols, one update per symbol every {args.tick:g} s, "
          f"flush_interval {FLUSH_INTERVAL:g} s, {args.seconds:g} s per phase, decoder {args.decoder}"
          f"{'' if args.settle else ', heap not settled'}")
    with simulator_process(args.symbols, "--tick", str(args.tick), "--history-ticks", "20") as url:
        asyncio.run(measure(url, args.intervals, args.seconds, args.settle, args.bare, args.decoder, args.warmup))


if __name__ == "__main__":
    main()
