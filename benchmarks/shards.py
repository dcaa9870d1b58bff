"""Shards benchmark: 3 exchanges x N symbols streamed at `stream_interval` 0 by one daemon, then by
`--shards` daemons (one process each, every one owning its share of the symbols), the simulator
in a process of its own; each daemon writes its own throwaway PostgreSQL database.

    python -m benchmarks.shards [--symbols 1500] [--tick 0.1] [--seconds 20] [--shards 2]
                                [--decoder ccxt|native] [--warmup 2]

Per run: frames/s the simulator pushed, updates/s the daemons took together (each after its
streams are up, over the same `--seconds`), and event time -> PostgreSQL commit p50 / p99 over
every record of every daemon; per daemon its cores busy. The question it answers: do two shards
take the whole feed where one process cannot, and what is then the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time

import psutil
import structlog

from benchmarks.engine import simulator_process
from benchmarks.streaming import frames_sent, percentile, run, throwaway_database
from collector.shard import ShardConfig


async def one_shard(url: str, count: int, index: int, seconds: float, decoder: str, warmup: float = 2.0) -> dict:
    async with throwaway_database() as database:
        result = await run(url, database, 0.0, seconds, None, decoder=decoder,
                           shard=ShardConfig(count=count, index=index), warmup=warmup)
    return {"updates": result["updates"], "wall": result["wall"], "cpu": result["cpu"],
            "frames": result["frames"], "latencies": result["latencies"], "states": result["states"],
            "others": result["others"]}


def fleet(url: str, count: int, seconds: float, decoder: str, warmup: float = 2.0) -> list[dict]:
    """`count` shard processes started together; their results."""
    processes = [subprocess.Popen([sys.executable, "-m", "benchmarks.shards", "--worker", url, str(count), str(index),
                                   "--seconds", str(seconds), "--decoder", decoder, "--warmup", str(warmup)],
                                  stdout=subprocess.PIPE, text=True)
                 for index in range(count)]
    return [json.loads(p.communicate(timeout=seconds + 300)[0].strip().splitlines()[-1]) for p in processes]


def report(count: int, results: list[dict]) -> None:
    latencies = sorted(ms for r in results for ms in r["latencies"])
    updates = sum(r["updates"] / r["wall"] for r in results)
    frames = max(r["frames"] / r["wall"] for r in results)  # every shard sees the simulator's total
    print(f"{count} daemon{'s' if count > 1 else ''}: streams {[r['states'] for r in results]}")
    print(f"  frames/s pushed by the simulator: {frames:,.0f}")
    each = ", ".join(f"{r['updates'] / r['wall']:,.0f}" for r in results)
    busy = ", ".join(f"{r['cpu'] / r['wall']:.2f}" for r in results)
    print(f"  updates/s taken: {updates:,.0f} ({each})")
    others = results[0]["others"]  # over the first daemon's window
    print(f"  cores busy per daemon: {busy}; simulator {others['simulator'] / results[0]['wall']:.2f}, "
          f"PostgreSQL {others['postgres'] / results[0]['wall']:.2f}"
          f" (load average {os.getloadavg()[0]:.1f}, {psutil.cpu_count()} cores)")
    print(f"  event time -> PostgreSQL commit: p50 {percentile(latencies, 0.5):,.0f} ms, "
          f"p99 {percentile(latencies, 0.99):,.0f} ms over {len(latencies):,} records")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1500)
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between updates of a symbol")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--decoder", choices=["ccxt", "native"], default="ccxt",
                        help="the streams' decoder: ccxt pro, or the venues' own JSON (collector/venues/)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds between the streams up and the measured window")
    parser.add_argument("--worker", nargs=3, metavar=("URL", "COUNT", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.worker:
        url, count, index = args.worker
        print(json.dumps(asyncio.run(one_shard(url, int(count), int(index), args.seconds, args.decoder,
                                                  args.warmup))))
        return
    print(f"3 exchanges x {args.symbols} symbols, one update per symbol every {args.tick:g} s, "
          f"stream_interval 0, decoder {args.decoder}, {args.seconds:g} s measured")
    with simulator_process(args.symbols, "--tick", str(args.tick), "--history-ticks", "20") as url:
        time.sleep(1.0)
        for count in (1, args.shards):
            report(count, fleet(url, count, args.seconds, args.decoder, args.warmup))
            print(f"  (simulator frames so far {frames_sent(url):,})")


if __name__ == "__main__":
    main()
