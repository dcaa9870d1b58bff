"""RabbitMQ throughput by where the messages go: the exchange alone, one quorum queue, one stream.

    python -m benchmarks.sinks --only rabbitmq [--records 200000] [--batch-size 10000]

N ticker records written by the RabbitMQ sink in batches (persistent, publisher confirms,
`mandatory`), three times on the local broker: to a fresh exchange with no queue bound
(`unroutable: count`: the broker returns every message, which the sink counts), to one quorum
queue and to one stream the sink declares from its config. Per run: messages/s, and CPU seconds
per 100,000 messages of this process and of the broker's Erlang VM (read from /proc through
psutil; the broker is only read, never touched). Everything it creates (exchanges, queues) is
removed afterwards. Target (2 cores): the quorum queue >= 10,000 messages/s.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import aio_pika
import psutil

from collector.config import RabbitMQConfig
from collector.records import Record
from collector.sinks.rabbitmq.sink import RabbitMQSink

QUORUM_TARGET = 10_000
PER = 100_000


@dataclass(frozen=True)
class Figures:
    rate: float
    client_cpu: float  # seconds per PER messages
    broker_cpu: float | None


def _broker() -> psutil.Process | None:
    """The local broker's Erlang VM (listening on 5672), to read its CPU time; None if unseen."""
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == 5672 and conn.status == psutil.CONN_LISTEN and conn.pid:
                return psutil.Process(conn.pid)
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return None


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


async def measure(config: RabbitMQConfig, batches: list[list[Record]]) -> Figures:
    me, broker = psutil.Process(), _broker()
    count = sum(len(batch) for batch in batches)
    async with RabbitMQSink(config, timeout=120.0) as sink:
        await sink.write(batches[0][:10])  # connected and declared before the clock starts
        started, mine, theirs = time.perf_counter(), _cpu(me), _cpu(broker)
        for batch in batches:
            await sink.write(batch)
        elapsed = time.perf_counter() - started
        mine, theirs = _cpu(me) - mine, _cpu(broker) - theirs
    return Figures(count / elapsed, mine / count * PER, theirs / count * PER if broker else None)


async def run(batches: list[list[Record]]) -> None:
    suffix = uuid.uuid4().hex[:10]
    quorum, stream = f"crypto.bench.quorum-{suffix}", f"crypto.bench.stream-{suffix}"
    base = RabbitMQConfig(enabled=True, host="127.0.0.1", port=5672, unroutable="count")
    targets = {
        "exchange alone": base.model_copy(update={"exchange": f"crypto.bench.alone-{suffix}"}),
        "quorum queue": RabbitMQConfig.model_validate({
            **base.model_dump(mode="json"), "password": "guest", "exchange": f"crypto.bench.quorum-{suffix}",
            "queues": [{"name": quorum, "type": "quorum"}]}),
        "stream": RabbitMQConfig.model_validate({
            **base.model_dump(mode="json"), "password": "guest", "exchange": f"crypto.bench.stream-{suffix}",
            "queues": [{"name": stream, "type": "stream"}]}),
    }
    count = sum(len(batch) for batch in batches)
    print(f"RabbitMQ: {count:,} persistent, confirmed, mandatory messages per run, batches of "
          f"{len(batches[0]):,}")
    try:
        for label, config in targets.items():
            figures = await measure(config, batches)
            broker = f"{figures.broker_cpu:5.1f}" if figures.broker_cpu is not None else "  n/a"
            verdict = ""
            if label == "quorum queue":
                verdict = f"  target {QUORUM_TARGET:,}/s {'ok' if figures.rate >= QUORUM_TARGET else 'BELOW TARGET'}"
            print(f"  {label:<15} {figures.rate:>9,.0f} msg/s  CPU per 100k: collector {figures.client_cpu:5.1f} s, "
                  f"broker {broker} s{verdict}")
    finally:
        await _clean_up([quorum, stream], [config.exchange for config in targets.values()])


async def _clean_up(queues: list[str], exchanges: list[str]) -> None:
    connection = await aio_pika.connect(host="127.0.0.1", port=5672, login="guest", password="guest")
    async with connection:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)
        for name in exchanges:
            await channel.exchange_delete(name)
