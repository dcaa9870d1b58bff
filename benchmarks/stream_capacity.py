"""The most frames/s one daemon process sustains at `stream_interval: 0`, decoded and journaled
(`--sink journal`) or with the SQLite sink writing every record (`--sink sqlite`).

    python -m benchmarks.stream_capacity [--decoder native [ccxt]] [--sink journal [sqlite]]
                                         [--symbols 500] [--start-tick 0.1] [--step 1.25]
                                         [--rounds 8] [--seconds 10] [--settle 2] [--warm-up 5]
                                         [--simulator-only] [--simulator-from DIR]

The simulator runs in a process of its own (on a 2-core machine it gets one core, this process
the other). First the simulator alone: counting clients (benchmarks/feed_clients.py) take every
topic while the feed is ramped (`POST /_sim/feed`, the tick shortened by `--step` a round); the
most frames/s it pushed is its capacity. Then the daemon's stream owners, journal and sink (this
process) take the same ramp at `stream_interval: 0`. A round is sustained when the p99 of event
time -> commit (the journal append, or the SQLite commit) stays within flush_interval + 250 ms in
both halves of the round (no growing lag). The report names the most frames/s sustained and
which side was the limit: the daemon (a round not sustained), or the simulator (it pushed under
90 % of the round's feed). Several decoders and sinks: one ramp each, in this order, so their
figures compare within one run. `--simulator-only` stops after the simulator's rounds;
`--simulator-from DIR` runs the `exchange_simulator` package of another checkout at DIR (e.g.
`git archive <commit> exchange_simulator | tar -x -C DIR`, to compare its cost per frame).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import tempfile
import time
import urllib.request
from pathlib import Path

import structlog

from benchmarks.engine import simulator_process
from benchmarks.feed_clients import FeedCounter, feed_rate
from benchmarks.streaming import EXCHANGES, FLUSH_INTERVAL, exchange_source, frames_sent, others_cpu, percentile
from collector.config import (BatchProcessingConfig, CircuitBreakerConfig, DatabaseConfig, ExchangeConfig,
                              RetryConfig, SQLiteConfig)
from collector.journal import Journal
from collector.pipeline import Pipeline
from collector.runner import settle_heap
from collector.sinks.sqlite import SQLiteSink
from collector.sinks.writer import BatchWriter
from collector.streams.owner import StreamOwner
from exchange_simulator import Simulator

TARGET_MS = FLUSH_INTERVAL * 1000 + 250
SETTLE_SECONDS = 2.0  # after a tick change: the new pace reaches the sockets
_WHOLE_CORE = 0.8  # cores busy under which a process that fell short was starved, not at its limit
WARM_UP_SECONDS = 5.0  # the streams up: every subscription answered, the first snapshots taken


def set_feed(url: str, tick: float) -> None:
    request = urllib.request.Request(f"{url}/_sim/feed", data=json.dumps({"tick": tick}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


class TimedSQLiteSink(SQLiteSink):
    """The real sink; notes event time -> commit for every record it wrote."""

    latencies_ms: list[int]

    async def write(self, records) -> None:
        await super().write(records)
        now = int(time.time() * 1000)
        self.latencies_ms.extend(now - record.ts for record in records)


class Round:
    """One round of the ramp: the feed's pace, what the simulator pushed and what it cost."""

    def __init__(self, url: str, tick: float, seconds: float) -> None:
        self.url, self.tick, self.seconds = url, tick, seconds
        self.port = url.rsplit(":", 1)[1]
        self.latencies: tuple[list[int], list[int]] = ([], [])

    async def measure(self, latencies: list[int], taken) -> Round:
        """`seconds` of the running feed; `latencies` is appended to by the daemon (if any),
        `taken()` counts what it took so far."""
        frames, others, counted = frames_sent(self.url), others_cpu(self.port), taken()
        cpu, wall = time.process_time(), time.monotonic()
        halves = []
        for _ in range(2):
            latencies.clear()
            await asyncio.sleep(self.seconds / 2)
            halves.append(sorted(latencies))
        self.wall = time.monotonic() - wall
        self.cpu = time.process_time() - cpu
        self.frames = frames_sent(self.url) - frames
        self.taken = taken() - counted
        self.simulator_cpu = others_cpu(self.port)["simulator"] - others["simulator"]
        self.latencies = (halves[0], halves[1])
        return self

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.wall

    def p99s(self) -> tuple[float, float]:
        return percentile(self.latencies[0], 0.99), percentile(self.latencies[1], 0.99)

    def sustained(self) -> bool:
        first, second = self.p99s()
        return all(half for half in self.latencies) and first <= TARGET_MS and second <= TARGET_MS


async def simulator_alone(url: str, symbols: int, ticks: list[float], seconds: float, *,
                          settle: float = SETTLE_SECONDS) -> list[Round]:
    rounds = []
    counter = FeedCounter(url, symbols)
    async with counter.running():
        for tick in ticks:
            if rounds:  # the first round's tick is the one the simulator started with
                set_feed(url, tick)
            await asyncio.sleep(settle)
            rounds.append(await Round(url, tick, seconds).measure([], lambda: counter.messages))
    return rounds


async def daemon_rounds(url: str, decoder: str, sink_kind: str, ticks: list[float], seconds: float,
                        symbols: int, *, settle: float = SETTLE_SECONDS,
                        warm_up: float = WARM_UP_SECONDS) -> list[Round]:
    """The ramp through one daemon's streams; stops after the first round not sustained or one
    the simulator could not push."""
    options = Simulator(port=int(url.rsplit(":", 1)[1]))
    latencies: list[int] = []
    with tempfile.TemporaryDirectory() as spool:
        batch = BatchProcessingConfig(batch_size=5000, flush_interval=FLUSH_INTERVAL, spool_dir=Path(spool))
        async with contextlib.AsyncExitStack() as stack:
            journal = await stack.enter_async_context(Journal(Path(spool), max_bytes=2**34, frame_records=5000))
            writers = []
            if sink_kind == "sqlite":
                sink = TimedSQLiteSink(SQLiteConfig(path=Path(spool) / "bench.db"), DatabaseConfig())
                sink.latencies_ms = latencies
                writers.append(await stack.enter_async_context(
                    BatchWriter(sink, journal, batch, RetryConfig(), CircuitBreakerConfig())))
            pipeline = Pipeline(journal, writers)

            async def publish(records) -> int:
                accepted = await pipeline.publish(records)
                if sink_kind == "journal":  # committed once appended to the journal
                    now = int(time.time() * 1000)
                    latencies.extend(now - record.ts for record in records)
                return accepted

            owners = []
            for name, ccxt_id in EXCHANGES.items():
                config = ExchangeConfig(ccxt_id=ccxt_id, rate_limit=10000, mode="stream", stream_interval=0.0,
                                        decoder=decoder, ccxt_options=options.ccxt_options(ccxt_id))
                source = await stack.enter_async_context(exchange_source(name, config))
                owners.append(StreamOwner(source, config, ticker_interval=1.0, retry=RetryConfig(), publish=publish))
            settle_heap()
            return await _ramp(url, owners, ticks, seconds, symbols, latencies, settle, warm_up)


async def _ramp(url: str, owners: list[StreamOwner], ticks: list[float], seconds: float,
                symbols: int, latencies: list[int], settle: float, warm_up: float) -> list[Round]:
    rounds: list[Round] = []
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(o.run(), name=f"bench:stream:{o.name}") for o in owners]
        deadline = time.monotonic() + 60
        while not all(o.state == "up" for o in owners) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(warm_up)
        for tick in ticks:
            set_feed(url, tick)
            await asyncio.sleep(settle)
            done = await Round(url, tick, seconds).measure(latencies, lambda: sum(o.updates for o in owners))
            rounds.append(done)
            if not done.sustained() or simulator_short(done, symbols):
                break
        for task in tasks:
            task.cancel()
    return rounds


def simulator_short(done: Round, symbols: int) -> bool:
    return done.frames_per_second < 0.9 * feed_rate(symbols, done.tick)


def _limit(last: Round, symbols: int) -> str:
    """Which side stopped the ramp. A process that had less than `_WHOLE_CORE` of a core while
    it fell short was held back by the machine's other work, not by its own cost."""
    daemon_cores, simulator_cores = last.cpu / last.wall, last.simulator_cpu / last.wall
    if not last.sustained():
        if daemon_cores < _WHOLE_CORE:
            return f"the machine (the daemon fell behind with {daemon_cores:.2f} of a core: other processes)"
        return "the daemon (the next round was not sustained)"
    if simulator_short(last, symbols):
        if simulator_cores < _WHOLE_CORE:
            return f"the machine (the simulator fell short with {simulator_cores:.2f} of a core: other processes)"
        return "the simulator (it pushed under 90% of the feed)"
    return "not reached (more rounds would go further)"


def report_simulator(rounds: list[Round], symbols: int) -> None:
    print("simulator alone (counting clients take every topic):")
    for r in rounds:
        print(f"  tick {r.tick:.4g} s: pushed {r.frames_per_second:,.0f} frames/s (feed {feed_rate(symbols, r.tick):,.0f}), "
              f"simulator cores busy {r.simulator_cpu / r.wall:.2f}, counted {r.taken / r.wall:,.0f} messages/s")
    best = max(rounds, key=lambda r: r.frames_per_second)
    cores = best.simulator_cpu / best.wall
    print(f"simulator capacity: {best.frames_per_second:,.0f} frames/s at {cores:.2f} core "
          f"({best.frames_per_second / max(cores, 0.01):,.0f} frames per CPU second)")


def report_daemon(rounds: list[Round], decoder: str, sink_kind: str, symbols: int) -> None:
    print(f"one daemon process (decoder {decoder}, sink {sink_kind}), stream_interval 0:")
    for r in rounds:
        first, second = r.p99s()
        print(f"  tick {r.tick:.4g} s: pushed {r.frames_per_second:,.0f} frames/s (feed {feed_rate(symbols, r.tick):,.0f}), "
              f"taken {r.taken / r.wall:,.0f} updates/s; cores busy: this process {r.cpu / r.wall:.2f} "
              f"({r.frames / max(r.cpu, 0.001):,.0f} frames per CPU second), "
              f"simulator {r.simulator_cpu / r.wall:.2f}; event -> commit p99 {first:.0f} / {second:.0f} ms "
              f"(halves; target {TARGET_MS:.0f}): {'sustained' if r.sustained() else 'NOT sustained'}")
    kept = [r for r in rounds if r.sustained()]
    best = max(kept, key=lambda r: r.frames_per_second) if kept else None
    last = rounds[-1]
    limit = _limit(last, symbols)
    if best is None:
        print(f"most frames/s sustained: none (decoder {decoder}, sink {sink_kind}); limit: {limit}")
        return
    print(f"most frames/s sustained: {best.frames_per_second:,.0f} (decoder {decoder}, sink {sink_kind}) at "
          f"{best.cpu / best.wall:.2f} core, {best.cpu / max(1, best.frames) * 1e6:.1f} CPU us a frame; limit: {limit}")


async def measure(args: argparse.Namespace, url: str) -> None:
    ticks = [args.start_tick / args.step ** i for i in range(args.rounds)]
    alone = await simulator_alone(url, args.symbols, ticks, args.seconds, settle=args.settle)
    report_simulator(alone, args.symbols)
    if args.simulator_only:
        return
    for decoder in args.decoder:
        for sink in args.sink:
            rounds = await daemon_rounds(url, decoder, sink, ticks, args.seconds, args.symbols,
                                         settle=args.settle, warm_up=args.warm_up)
            report_daemon(rounds, decoder, sink, args.symbols)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decoder", choices=("native", "ccxt"), nargs="+", default=["native"],
                        help="one daemon ramp per decoder (and sink), in this run")
    parser.add_argument("--sink", choices=("journal", "sqlite"), nargs="+", default=["journal"])
    parser.add_argument("--symbols", type=int, default=500, help="per exchange")
    parser.add_argument("--start-tick", type=float, default=0.1, help="seconds between market steps, first round")
    parser.add_argument("--step", type=float, default=1.25, help="each round's feed is this many times faster")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="per round")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                        help="seconds after a tick change before the round is measured")
    parser.add_argument("--warm-up", type=float, default=WARM_UP_SECONDS,
                        help="seconds after the daemon's streams are up before its first round")
    parser.add_argument("--simulator-only", action="store_true", help="only the simulator's rounds")
    parser.add_argument("--simulator-from", metavar="DIR", help="run the exchange_simulator package found in DIR")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"3 exchanges x {args.symbols} symbols, tick from {args.start_tick:g} s, x{args.step:g} faster a round, "
          f"{args.rounds} rounds of {args.seconds:g} s, flush_interval {FLUSH_INTERVAL:g} s")
    with simulator_process(args.symbols, "--tick", str(args.start_tick), "--history-ticks", "20",
                           cwd=args.simulator_from) as url:
        asyncio.run(measure(args, url))


if __name__ == "__main__":
    main()
