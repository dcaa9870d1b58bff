"""Sink throughput through the journal and the batching writer, beside the sink alone and a naive
one-write-per-record baseline.

    python -m benchmarks.sinks [--records 1000000] [--sinks postgres,clickhouse,rabbitmq,sqlite]
                               [--naive-records 2000] [--batch-size 10000] [--only SINK]
    python -m benchmarks.sinks --only rabbitmq [--records 200000]   see benchmarks/rabbitmq_queues.py

`--only parquet`: the Parquet archive through the journal (benchmarks/sinks_parquet.py).

First the journal alone: N records appended (group commit, fsync), records/s, fsyncs/s and disk
bytes per record. Then for each sink alone, then all together: N ticker records journaled and
written by `BatchWriter` (fed with each sink's backlog kept under 50,000 records, as a collector
would), beside the same records handed straight to the sink's `write` in batches (the "sink
alone" column: the ceiling, measured side by side in the same run), records/s and peak RSS of the
run, and the bytes this process wrote to disk per record (SQLite's file and WAL; the servers'
writes are theirs). The N records are built before the clock starts, so their memory is in the
peak RSS; "run +" is what the run added on top of it (queues, batches, drivers). The naive
baseline, in the same process on a smaller N: one INSERT (one publish awaiting its confirm) per
record.
Everything it touches is its own and removed afterwards: a PostgreSQL database, a RabbitMQ
exchange and queue, a chDB ClickHouse test server, a temporary SQLite file. Targets (2 cores):
PostgreSQL >= 100k rows/s, ClickHouse >= 150k, RabbitMQ >= 15k msg/s with confirms, SQLite >=
100k, each SQL sink >= 10x its naive baseline (at --batch-size 10000; smaller batches are slower,
see TROUBLESHOOTING.md "Sink throughput").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, closing
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import asyncpg
import clickhouse_connect
import structlog

from benchmarks.sink_fixtures import DATABASE, MAX_QUEUED, Footprint, load_average, tickers
from collector.config import (BatchProcessingConfig, CircuitBreakerConfig, ClickHouseConfig,
                              PostgresConfig, RabbitMQConfig, RetryConfig,
                              SQLiteConfig)
from collector.journal import Journal
from collector.records import TABLES, Record, as_row, columns, message_id, routing_key, to_dict
from collector.sinks.base import Sink
from collector.sinks.clickhouse import ClickHouseSink
from collector.sinks.postgres import PostgresSink
from collector.sinks.rabbitmq.sink import RabbitMQSink
from collector.sinks.sqlite import SQLiteSink
from collector.sinks.writer import BatchWriter

ALL_SINKS = ("postgres", "clickhouse", "rabbitmq", "sqlite")
TARGETS = {"postgres": 100_000, "clickhouse": 150_000, "rabbitmq": 15_000, "sqlite": 100_000}
JOURNAL_TARGET = 300_000
async def through_writers(sinks: list[Sink], count: int, batch_size: int, spool_dir: Path,
                          offset: int) -> tuple[float, Footprint]:
    """records/s (per sink, all of them written) and the memory and disk footprint of one run,
    the daemon's way: appended to the journal (fsync), read ahead by each sink's writer."""
    batch = BatchProcessingConfig(batch_size=batch_size, flush_interval=1.0,
                                  queue_max_size=MAX_QUEUED * 4, spool_dir=spool_dir)
    chunks = list(tickers(count, offset=offset))  # made before the clock starts: sinks are measured
    async with AsyncExitStack() as stack:
        journal = await stack.enter_async_context(
            Journal(spool_dir, max_bytes=2**40, frame_records=batch_size))
        writers = [await stack.enter_async_context(BatchWriter(
            sink, journal, batch, RetryConfig(), CircuitBreakerConfig(), stop_timeout=120.0))
            for sink in sinks]
        while any(w.status()["state"] == "connecting" for w in writers):
            await asyncio.sleep(0.01)  # connected before the clock starts, as `direct` is
        async with Footprint() as footprint:
            started = time.perf_counter()
            for chunk in chunks:
                while max(w.backlog for w in writers) > MAX_QUEUED:
                    await asyncio.sleep(0.002)
                await journal.append(chunk)
            for writer in writers:
                await writer.flush()
            elapsed = time.perf_counter() - started
        failed = [w.name for w in writers if w.status()["state"] != "ok"]
    if failed:
        print(f"  warning: {', '.join(failed)} failed during the run")
    return count / elapsed, footprint


async def direct(sink: Sink, count: int, batch_size: int, offset: int) -> float:
    """records/s of the sink alone: batches handed to `sink.write` one after the other, no
    journal and no writer: the ceiling the writer's path is measured against."""
    records = [r for chunk in tickers(count, offset=offset) for r in chunk]
    async with sink:
        started = time.perf_counter()
        for start in range(0, count, batch_size):
            await sink.write(records[start:start + batch_size])
        return count / (time.perf_counter() - started)


async def journal_alone(count: int, spool_dir: Path) -> str:
    """The journal's append rate (group-committed chunks of 10,000, fsync each), fsyncs and
    bytes on disk per record."""
    chunks = list(tickers(count, offset=0))
    async with Journal(spool_dir / "alone", max_bytes=2**40, frame_records=1000) as journal:
        started = time.perf_counter()
        for chunk in chunks:  # one poll result after the other, each awaited: one fsync each
            await journal.append(chunk)
        elapsed = time.perf_counter() - started
        fsyncs, written = journal.fsyncs, journal.bytes_written
    verdict = "ok" if count / elapsed >= JOURNAL_TARGET else "BELOW TARGET"
    return (f"{'journal':<11} {count / elapsed:>10,.0f} records/s appended  {fsyncs / elapsed:>6,.0f} fsyncs/s  "
            f"disk {written / count:>5,.0f} B/record  target {JOURNAL_TARGET:,}/s {verdict}")


# --- resources of each sink ---------------------------------------------------------------

@asynccontextmanager
async def postgres_resource() -> AsyncIterator[PostgresConfig]:
    name = f"bench_collector_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PostgresConfig(enabled=True, host="127.0.0.1", port=5432, user="postgres", database=name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def rabbitmq_resource() -> AsyncIterator[RabbitMQConfig]:
    """A unique exchange with one bound queue (bounded, so the broker's memory stays flat)."""
    name = f"crypto.futures.bench-{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect(host="127.0.0.1", port=5672, login="guest", password="guest")
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            exclusive=True, auto_delete=True,
            arguments={"x-max-length": 100_000, "x-overflow": "drop-head"})
        await queue.bind(exchange, "#")
        try:
            yield RabbitMQConfig(enabled=True, host="127.0.0.1", port=5672, exchange=name)
        finally:
            await queue.delete(if_unused=False, if_empty=False)
            await channel.exchange_delete(name)


@asynccontextmanager
async def clickhouse_resource(workdir: Path) -> AsyncIterator[ClickHouseConfig]:
    # The project's chDB-backed ClickHouse HTTP server, the same one the tests use.
    from tests.support.clickhouse import ChdbServerProcess
    with ChdbServerProcess(workdir / "clickhouse") as endpoint:
        yield endpoint.config(f"bench_{uuid.uuid4().hex[:10]}")


@asynccontextmanager
async def sqlite_resource(workdir: Path) -> AsyncIterator[SQLiteConfig]:
    yield SQLiteConfig(enabled=True, path=workdir / "bench.db")


def make_sink(name: str, config) -> Sink:
    if name == "postgres":
        return PostgresSink(config, DATABASE)
    if name == "clickhouse":
        return ClickHouseSink(config, DATABASE)
    if name == "rabbitmq":
        return RabbitMQSink(config, timeout=60.0)
    return SQLiteSink(config, DATABASE)


# --- naive baselines: one round trip per record ------------------------------------------

def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _timed_row(record: Record) -> tuple:
    return tuple(_dt(v) if name in ("ts", "received_at") else v
                 for name, v in zip(columns(record.kind), as_row(record)))


async def naive_postgres(config: PostgresConfig, records: list[Record]) -> None:
    names = columns("ticker")
    sql = (f"INSERT INTO tickers ({', '.join(names)}) VALUES "
           f"({', '.join(f'${i + 1}' for i in range(len(names)))}) ON CONFLICT DO NOTHING")
    connection = await asyncpg.connect(host=config.host, port=config.port, user=config.user,
                                       database=config.database)
    try:
        for record in records:
            await connection.execute(sql, *_timed_row(record))
    finally:
        await connection.close()


async def naive_sqlite(config: SQLiteConfig, records: list[Record]) -> None:
    names = columns("ticker")
    sql = f"INSERT OR IGNORE INTO tickers ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"

    def insert_each() -> None:
        with closing(sqlite3.connect(config.path)) as connection:
            for record in records:
                connection.execute(sql, as_row(record))
                connection.commit()

    await asyncio.to_thread(insert_each)


async def naive_clickhouse(config: ClickHouseConfig, records: list[Record]) -> None:
    client = await clickhouse_connect.get_async_client(
        host=config.host, port=config.port, username=config.username, database=config.database)
    try:
        for record in records:
            await client.insert(TABLES["ticker"], [_timed_row(record)], column_names=list(columns("ticker")))
    finally:
        await client.close()


async def naive_rabbitmq(config: RabbitMQConfig, records: list[Record]) -> None:
    connection = await aio_pika.connect(host=config.host, port=config.port, login="guest", password="guest")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(config.exchange)
        for record in records:
            message = aio_pika.Message(json.dumps(to_dict(record)).encode(), message_id=message_id(record),
                                       content_type="application/json",
                                       delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await exchange.publish(message, routing_key(record))  # waits for the confirm


NAIVE = {"postgres": naive_postgres, "sqlite": naive_sqlite, "clickhouse": naive_clickhouse,
         "rabbitmq": naive_rabbitmq}


async def naive_rate(name: str, config, count: int, offset: int) -> float:
    records = [r for chunk in tickers(count, offset=offset) for r in chunk]
    started = time.perf_counter()
    await NAIVE[name](config, records)
    return count / (time.perf_counter() - started)


# --- the run ------------------------------------------------------------------------------

async def run(names: list[str], count: int, naive_count: int, batch_size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sinks-") as tmp:
        workdir = Path(tmp)
        resources = {"postgres": postgres_resource, "rabbitmq": rabbitmq_resource,
                     "clickhouse": lambda: clickhouse_resource(workdir),
                     "sqlite": lambda: sqlite_resource(workdir)}
        async with AsyncExitStack() as stack:
            configs = {name: await stack.enter_async_context(resources[name]()) for name in names}
            print(f"{count:,} ticker records per run, batch_size {batch_size:,}; "
                  f"naive baseline on {naive_count:,} records; {load_average()}")
            print(await journal_alone(count, workdir / "spool"))
            offset = count
            for name in names:
                rate, rss = await through_writers([make_sink(name, configs[name])], count,
                                                  batch_size, workdir / f"spool-{name}", offset)
                offset += count
                alone = await direct(make_sink(name, configs[name]), count, batch_size, offset)
                offset += count
                naive = await naive_rate(name, configs[name], naive_count, offset)
                offset += naive_count
                verdict = "ok" if rate >= TARGETS[name] else "BELOW TARGET"
                print(f"{name:<11} {rate:>10,.0f} records/s  {_rss(rss, count)}  "
                      f"sink alone {alone:>9,.0f}/s ({rate / alone:>4.0%})  "
                      f"naive {naive:>8,.0f}/s  ({rate / naive:>5.1f}x)  "
                      f"target {TARGETS[name]:,}/s {verdict}")
            if len(names) > 1:
                rate, rss = await through_writers([make_sink(n, configs[n]) for n in names], count,
                                                  batch_size, workdir / "spool-together", offset)
                print(f"{'together':<11} {rate:>10,.0f} records/s into each of {len(names)} sinks  "
                      f"{_rss(rss, count)}")
            print(f"done; {load_average()}")


def _rss(footprint: Footprint, count: int) -> str:
    return (f"peak RSS {footprint.peak_mb:>5.0f} MB (run +{footprint.growth_mb:>4.0f})  "
            f"disk {footprint.disk_bytes / count:>6,.0f} B/record")


def _rebatch(chunks: list[list[Record]], size: int) -> list[list[Record]]:
    records = [record for chunk in chunks for record in chunk]
    return [records[start:start + size] for start in range(0, len(records), size)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sinks", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=None, help="default 1,000,000 (--only rabbitmq: 200,000)")
    parser.add_argument("--sinks", default=",".join(ALL_SINKS))
    parser.add_argument("--naive-records", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--only", help="one sink alone: one of --sinks' names; parquet: the archive "
                        "through the journal (benchmarks/sinks_parquet.py); rabbitmq: the exchange alone, "
                        "one quorum queue, one stream (msg/s, CPU per 100k)")
    args = parser.parse_args()
    if args.only == "rabbitmq":
        from benchmarks import rabbitmq_queues
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
        asyncio.run(rabbitmq_queues.run(_rebatch(list(tickers(args.records or 200_000)), args.batch_size)))
        return
    if args.only == "parquet":
        from benchmarks import sinks_parquet
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        sinks_parquet.main(args.records or 1_000_000)
        return
    names = [n.strip() for n in (args.only or args.sinks).split(",") if n.strip()]
    unknown = set(names) - set(ALL_SINKS)
    if unknown:
        parser.error(f"unknown sinks: {', '.join(sorted(unknown))} (choose from {', '.join(ALL_SINKS)})")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(run(names, args.records or 1_000_000, args.naive_records, args.batch_size))


if __name__ == "__main__":
    main()
