"""RabbitMQ that keeps every record, on the shared broker: queues the sink declares, records no
queue binds held in the journal (or counted and let go), a conflicting queue refused with MQ_002,
and a cluster's node list failed over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from types import SimpleNamespace

import pytest
from structlog.testing import capture_logs

from collector import metrics
from collector.config import BatchProcessingConfig, CircuitBreakerConfig, RabbitMQConfig, RetryConfig
from collector.errors import ErrorCode, SinkError, SinkMisconfigured
from collector.journal import Journal
from collector.records import message_id
from collector.sinks.rabbitmq.amqp_wire import _CHANNEL_INTERNALS, SUPPORTED_AIORMQ, UnsupportedAiormq, check_supported
from collector.sinks.rabbitmq.sink import RabbitMQSink
from collector.sinks.writer import BatchWriter
from tests.integration.test_rabbitmq_sink import BASE_TS, mixed_records
from tests.support.rabbitmq import (bound_queue, broker_connection, deleted_afterwards, drain, queue_names,
                                    read_queue)
from tests.support.tcp_proxy import TcpProxy

BATCH = BatchProcessingConfig(batch_size=100, flush_interval=0.1)
RETRY = RetryConfig(max_attempts=2, base_delay=0.1, max_delay=0.3)
BREAKER = CircuitBreakerConfig(failure_threshold=3, recovery_timeout=1.0)


def unroutable_total(kind: str) -> float:
    return metrics.REGISTRY.get_sample_value("collector_mq_unroutable_total", {"kind": kind}) or 0.0


async def until(condition: Callable[[], bool], within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.05)


def queue(name: str, kind: str, *keys: str, **arguments: object) -> dict:
    return {"name": name, "type": kind, "binding_keys": list(keys or ("#",)), "arguments": arguments}


async def test_a_quorum_queue_and_a_stream_declared_by_the_sink_keep_every_record_for_a_later_reader(
        rabbitmq_config: RabbitMQConfig) -> None:
    records = mixed_records(5_000)
    quorum, stream = queue_names("quorum"), queue_names("stream")
    config = rabbitmq_config.model_copy(update={"queues": RabbitMQConfig.model_validate({"queues": [
        queue(quorum, "quorum", **{"x-max-length-bytes": 100_000_000}),
        queue(stream, "stream", **{"x-max-age": "1D"})]}).queues})
    async with deleted_afterwards(quorum, stream):
        async with RabbitMQSink(config) as sink:  # no consumer anywhere while it publishes
            await sink.write(records)
        in_quorum = await read_queue(quorum)
        in_stream = await read_queue(stream, stream=True)

    expected = sorted(message_id(record) for record in records)
    assert sorted(m.message_id for m in in_quorum) == expected
    assert sorted(m.message_id for m in in_stream) == expected


async def test_a_record_no_queue_binds_is_held_in_the_journal_counted_logged_and_delivered_once_bound(
        rabbitmq_config: RabbitMQConfig, tmp_path) -> None:
    tickers_only = queue_names("tickers")
    config = rabbitmq_config.model_copy(update={"queues": RabbitMQConfig.model_validate(
        {"queues": [queue(tickers_only, "quorum", "ticker.#")]}).queues})
    records = mixed_records(40)  # 30 tickers, 10 funding rates
    funding = {message_id(r) for r in records if r.kind == "funding_rate"}
    returned_before = unroutable_total("funding_rate")
    later = [0.0]  # seconds added to the writer's wall clock: lag without waiting for it
    with capture_logs() as lines:
        arrived, in_tickers = await hold_then_bind(config, records, tmp_path, later)

    assert {m.message_id for m in arrived} == funding
    assert sorted(m.message_id for m in in_tickers) == sorted(message_id(r) for r in records if r.kind == "ticker"), \
        "the tickers a queue took while the batch was held are not sent again"
    assert unroutable_total("funding_rate") - returned_before >= 10
    mq_003 = [line for line in lines if line.get("error_code") == "MQ_003"]
    assert [line["event"] for line in mq_003] == ["mq_unroutable"], "once per episode"
    assert mq_003[0]["example_routing_key"].startswith("funding_rate.")
    assert [line["event"] for line in lines if line["event"] == "mq_unroutable_ended"] == ["mq_unroutable_ended"]
    assert not [line for line in lines if line["event"] == "sink_down"], "held is not an outage"


async def hold_then_bind(config: RabbitMQConfig, records, tmp_path, later: list[float]):
    """The writer holds the batch (backlog, lagging) until a queue binds funding rates."""
    tickers_only = config.queues[0].name
    batch = BATCH.model_copy(update={"spool_dir": tmp_path / "spool"})
    returned_before = unroutable_total("funding_rate")
    async with deleted_afterwards(tickers_only), \
            Journal(tmp_path / "spool", max_bytes=2**30) as journal, \
            BatchWriter(RabbitMQSink(config), journal, batch, RETRY, BREAKER,
                        wall_clock=lambda: time.time() + later[0]) as writer:
        await journal.append(records)
        await until(lambda: unroutable_total("funding_rate") - returned_before >= 10)
        await writer.flush()
        assert writer.backlog == 40, "held: not one record of the batch confirmed in the journal"
        later[0] = writer.lag_threshold + 1
        assert writer.status()["state"] == "lagging"
        async with bound_queue(config, "funding_rate.#") as late_reader:
            await until(lambda: writer.backlog == 0)
            arrived = await drain(late_reader)
        later[0] = 0.0
        assert writer.status()["state"] == "ok"
        return arrived, await read_queue(tickers_only)


async def test_with_unroutable_count_a_record_no_queue_binds_is_counted_and_let_go(
        rabbitmq_config: RabbitMQConfig, tmp_path) -> None:
    config = rabbitmq_config.model_copy(update={"unroutable": "count"})
    records = mixed_records(40)
    returned_before = unroutable_total("ticker")
    batch = BATCH.model_copy(update={"spool_dir": tmp_path / "spool"})
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal, \
            BatchWriter(RabbitMQSink(config), journal, batch, RETRY, BREAKER) as writer:
        await journal.append(records)
        await until(lambda: writer.backlog == 0)
    assert unroutable_total("ticker") - returned_before == 30


async def test_with_an_alternate_exchange_nothing_is_unroutable(rabbitmq_config: RabbitMQConfig) -> None:
    catch_all = queue_names("catch-all")
    config = rabbitmq_config.model_copy(update={"alternate_exchange": catch_all})
    records = mixed_records(300)
    before = unroutable_total("ticker") + unroutable_total("funding_rate")
    async with deleted_afterwards(catch_all):
        try:
            async with RabbitMQSink(config) as sink:  # no queue bound to the main exchange
                await sink.write(records)
            caught = await read_queue(catch_all)
        finally:
            async with await broker_connection() as connection:
                await (await connection.channel()).exchange_delete(catch_all)
    assert sorted(m.message_id for m in caught) == sorted(message_id(r) for r in records)
    assert unroutable_total("ticker") + unroutable_total("funding_rate") == before


async def test_a_queue_that_exists_with_other_arguments_is_mq_002_naming_it_and_the_argument(
        rabbitmq_config: RabbitMQConfig) -> None:
    name = queue_names("conflict")
    async with deleted_afterwards(name):
        async with await broker_connection() as connection:
            channel = await connection.channel()
            await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum",
                                                                       "x-max-length-bytes": 1_000})
        config = rabbitmq_config.model_copy(update={"queues": RabbitMQConfig.model_validate({"queues": [
            queue(name, "quorum", **{"x-max-length-bytes": 2_000})]}).queues})
        for check in ("open", "verify"):  # at start, and in --validate-config --online
            sink = RabbitMQSink(config)
            try:
                with pytest.raises(SinkMisconfigured) as caught:
                    await getattr(sink, check)()
            finally:
                await sink.close()
            assert caught.value.code == ErrorCode.MQ_002
            assert name in str(caught.value) and "x-max-length-bytes" in str(caught.value)
        async with await broker_connection() as connection:  # untouched: still the operator's queue
            channel = await connection.channel()
            await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum",
                                                                       "x-max-length-bytes": 1_000})


async def test_with_two_hosts_the_sink_fails_over_when_its_node_goes_away(rabbitmq_config: RabbitMQConfig) -> None:
    first, later = mixed_records(200), mixed_records(200, first_ts=BASE_TS + 10**6)
    async with bound_queue(rabbitmq_config, "#") as reader, \
            TcpProxy("127.0.0.1", rabbitmq_config.port) as node_a, \
            TcpProxy("127.0.0.1", rabbitmq_config.port) as node_b:
        config = rabbitmq_config.model_copy(update={"hosts": (f"127.0.0.1:{node_a.port}",
                                                              f"127.0.0.1:{node_b.port}")})
        async with RabbitMQSink(config, timeout=10.0, connect_timeout=2.0) as sink:
            await sink.write(first)
            assert sink.endpoint.startswith(f"127.0.0.1:{node_a.port}")
            await node_a.cut()
            async with asyncio.timeout(30):
                while True:  # the write that notices the loss fails; a next one goes to node b
                    try:
                        await sink.write(later)
                        break
                    except SinkError:
                        await asyncio.sleep(0.1)
            assert sink.endpoint.startswith(f"127.0.0.1:{node_b.port}")
        messages = await drain(reader)
    assert {message_id(r) for r in first + later} <= {m.message_id for m in messages}


def test_the_installed_aiormq_is_one_the_publishing_adapter_supports() -> None:
    # Fails loudly on an aiormq upgrade: the pipelined publisher reaches into its channel.
    check_supported()


def test_an_unsupported_aiormq_is_refused_by_name(monkeypatch) -> None:
    from collector.sinks.rabbitmq import amqp_wire
    installed = amqp_wire.metadata.version
    monkeypatch.setattr(amqp_wire.metadata, "version", lambda name: "7.2.4" if name == "aiormq" else installed(name))
    with pytest.raises(UnsupportedAiormq, match="aiormq 7.2.4 is not supported"):
        check_supported()
    assert (7, 2) not in SUPPORTED_AIORMQ


def test_an_unsupported_aio_pika_is_refused_by_name(monkeypatch) -> None:
    from collector.sinks.rabbitmq import amqp_wire
    installed = amqp_wire.metadata.version
    monkeypatch.setattr(amqp_wire.metadata, "version", lambda name: "10.0.1" if name == "aio-pika" else installed(name))
    with pytest.raises(UnsupportedAiormq, match="aio-pika 10.0.1 is not supported"):
        check_supported()


async def test_the_channel_the_sink_publishes_on_has_every_internal_the_adapter_uses(
        rabbitmq_config: RabbitMQConfig) -> None:
    async with await broker_connection() as connection:
        channel = await connection.channel(publisher_confirms=True)
        underlay = await channel.get_underlay_channel()
        check_supported(underlay)
        # An aiormq whose channel renamed one of them is refused at connect, by that name.
        renamed = SimpleNamespace(**{name: getattr(underlay, name) for name in _CHANNEL_INTERNALS
                                     if name != "message_id_delivery_tag"})
        with pytest.raises(UnsupportedAiormq, match="channel lacks message_id_delivery_tag$"):
            check_supported(renamed)
