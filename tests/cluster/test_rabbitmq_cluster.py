"""A real three-node RabbitMQ cluster, started by the test: a quorum queue replicated on all three
nodes keeps every one of 100,000 records while the node the collector is connected to is killed
(SIGKILL) and later restarted. At-least-once: every `message_id` is in the queue at the end;
duplicates (a batch re-sent after a lost confirm) are counted and reported, never lost.

Starting the cluster takes half a minute to minutes on a loaded machine, so the test runs only
with `python run_tests.py --cluster -s` (the figures are printed); it needs root and
rabbitmq-server installed, and never touches the shared broker (see tests/support/rabbitmq_cluster.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator

import aio_pika
import pytest

from collector.config import BatchProcessingConfig, CircuitBreakerConfig, RabbitMQConfig, RetryConfig
from collector.journal import Journal
from collector.records import message_id
from collector.sinks.rabbitmq.sink import RabbitMQSink
from collector.sinks.writer import BatchWriter
from tests.integration.test_rabbitmq_sink import mixed_records
from tests.support import unavailable
from tests.support.rabbitmq_cluster import BIN, Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

RECORDS = 100_000
KILL_AFTER = 30_000  # records confirmed before the connected node is killed
QUEUE = "crypto.cluster.all"


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    if os.geteuid() != 0 or not (BIN / "rabbitmq-server").exists():
        unavailable("the cluster test needs root and rabbitmq-server", "the cluster test needs them")
    started = Cluster.create()
    try:
        began = time.monotonic()
        await started.start_all()
        print(f"\ncluster of 3 up in {time.monotonic() - began:.1f}s: {started.hosts}")
        yield started
    finally:
        await started.stop_all()


def cluster_config(cluster: Cluster) -> RabbitMQConfig:
    return RabbitMQConfig.model_validate({
        "enabled": True, "hosts": cluster.hosts, "username": "guest", "password": "guest",
        "queues": [{"name": QUEUE, "type": "quorum", "binding_keys": ["#"],
                    "arguments": {"x-quorum-initial-group-size": 3}}]})


async def until(condition, within: float, what: str, progress=None) -> None:
    """Wait for `condition`, printing `progress()` every 10 s (the run's figures as it goes)."""
    began = time.monotonic()
    last = began
    try:
        async with asyncio.timeout(within):
            while not condition():
                await asyncio.sleep(0.1)
                if progress is not None and time.monotonic() - last >= 10:
                    last = time.monotonic()
                    print(f"  {what}: {time.monotonic() - began:.0f}s {progress()}", flush=True)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {within:g}s; {progress() if progress else ''}") from None


async def test_a_quorum_queue_on_three_nodes_keeps_every_record_while_the_connected_node_is_killed(
        cluster: Cluster, tmp_path) -> None:
    records = mixed_records(RECORDS)
    figures: dict[str, object] = {"records": RECORDS}
    sink = RabbitMQSink(cluster_config(cluster), timeout=30.0, connect_timeout=5.0)
    batch = BatchProcessingConfig(batch_size=1000, flush_interval=0.2, spool_dir=tmp_path / "spool")
    retry = RetryConfig(max_attempts=3, base_delay=0.2, max_delay=1.0)
    breaker = CircuitBreakerConfig(failure_threshold=5, recovery_timeout=2.0)
    async with Journal(tmp_path / "spool", max_bytes=2**31) as journal, \
            BatchWriter(sink, journal, batch, retry, breaker, write_timeout=60.0) as writer:
        started = time.monotonic()
        for start in range(0, RECORDS, 5_000):
            await journal.append(records[start:start + 5_000])
        def progress() -> str:
            return f"confirmed {journal.cursor('rabbitmq')}, {writer.status()}"

        await until(lambda: journal.cursor("rabbitmq") >= KILL_AFTER, 300, "30,000 confirmed", progress)
        victim = cluster.node_on(int(sink.endpoint.split(":")[1].split("/")[0]))
        killed_at = time.monotonic()
        figures["killed"] = {"node": victim.name, "pid": cluster.kill_9(victim),
                             "confirmed_before": journal.cursor("rabbitmq")}
        await until(lambda: not sink.endpoint.startswith(f"127.0.0.1:{victim.port}/"), 300, "failover", progress)
        figures["failed_over_to"] = sink.endpoint
        figures["failover_s"] = round(time.monotonic() - killed_at, 1)
        await until(lambda: writer.backlog == 0, 900, "every record confirmed", progress)
        figures["publish_s"] = round(time.monotonic() - started, 1)
        restarted = time.monotonic()
        await cluster.start(victim)
        await cluster.wait_until_up(victim)
        figures["restart_s"] = round(time.monotonic() - restarted, 1)
    _, members = await cluster.ctl(cluster.nodes[0], "list_queues", "name", "members", "--no-table-headers")
    messages = await read_all(cluster, QUEUE)
    counts = Counter(messages)
    expected = {message_id(record) for record in records}
    figures |= {"messages_in_queue": len(messages), "unique": len(counts),
                "duplicates": len(messages) - len(counts), "missing": len(expected - set(counts))}
    print("cluster figures:", json.dumps(figures))

    assert all(node.name in members for node in cluster.nodes), members
    assert set(counts) == expected, f"{len(expected - set(counts))} records missing"


async def read_all(cluster: Cluster, queue: str, quiet: float = 5.0) -> list[str]:
    """Every message id in the quorum queue, read through the first node that answers."""
    connection = await aio_pika.connect(f"amqp://guest:guest@{cluster.hosts[1]}/")
    ids: list[str] = []
    arrived = asyncio.Event()
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2000)
        source = await channel.get_queue(queue, ensure=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            ids.append(message.message_id or "")
            await message.ack()
            arrived.set()

        tag = await source.consume(on_message)
        while True:
            arrived.clear()
            try:
                async with asyncio.timeout(quiet):
                    await arrived.wait()
            except TimeoutError:
                break
        await source.cancel(tag)
    return ids
