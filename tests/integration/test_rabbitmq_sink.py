"""The RabbitMQ sink against the local broker, read back by real consumers bound before publishing."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace

import orjson
import pamqp.frame
import pytest
import structlog
from aio_pika import DeliveryMode
from aiormq import spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from pydantic import SecretStr

from collector.config import (
    BatchProcessingConfig,
    CircuitBreakerConfig,
    LoggingConfig,
    RabbitMQConfig,
    RetryConfig,
)
from collector.errors import ErrorCode, SinkError
from collector.logging import configure_logging, shutdown_logging
from collector.records import (
    FundingRate,
    Record,
    Ticker,
    message_id,
    routing_key,
    to_dict,
)
from collector.journal import Journal
from collector.sinks.rabbitmq.sink import RabbitMQSink, encode_window
from collector.sinks.writer import BatchWriter
from tests.support.rabbitmq import bound_queue, drain
from tests.support.tcp_proxy import TcpProxy

BASE_TS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
EXCHANGES = ("binance", "bybit", "okx")
EIGHT_HOURS_MS = 8 * 3600 * 1000


def mixed_records(count: int, *, first_ts: int = BASE_TS) -> list[Record]:
    """Tickers and funding rates (one in four) of three exchanges and 50 symbols, unique ts each."""
    records: list[Record] = []
    for i in range(count):
        exchange, symbol, ts = EXCHANGES[i % 3], f"C{i % 50}/USDT:USDT", first_ts + i
        if i % 4 == 3:
            records.append(FundingRate(exchange, symbol, ts, ts + 7, funding_rate=(i % 7 - 3) * 1.25e-5,
                                       next_funding_time=ts + EIGHT_HOURS_MS,
                                       mark_price=100.0 + i / 3 if i % 2 else None))
        else:
            records.append(Ticker(exchange, symbol, ts, ts + 3, last=60000.0 + i / 7, bid=59999.5,
                                  ask=60000.5, open_interest=None if i % 5 else 1.0e6 + i))
    return records


async def write_in_batches(sink: RabbitMQSink, records: list[Record], size: int = 1000) -> None:
    for start in range(0, len(records), size):
        await sink.write(records[start:start + size])


def test_the_frames_we_write_are_byte_for_byte_what_pamqp_encodes() -> None:
    records = mixed_records(20)
    channel = SimpleNamespace(number=3, max_content_size=64)  # small frames: bodies span several
    timestamp = datetime(2025, 6, 1, 12, 30, 15, tzinfo=UTC)
    expected = b""
    for record in records:
        body = orjson.dumps(to_dict(record))
        properties = spec.Basic.Properties(content_type="application/json", delivery_mode=2,
                                           message_id=message_id(record), timestamp=timestamp)
        frames = [spec.Basic.Publish(exchange="crypto.futures", routing_key=routing_key(record), mandatory=True),
                  ContentHeader(0, len(body), properties)]
        frames += [ContentBody(body[i:i + 64]) for i in range(0, len(body), 64)]
        expected += b"".join(pamqp.frame.marshal(frame, 3) for frame in frames)
    assert encode_window(records, "crypto.futures", channel, timestamp) == expected


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_every_record_becomes_one_persistent_json_message_equal_to_its_dict(
        rabbitmq_config: RabbitMQConfig) -> None:
    records = mixed_records(100_000)
    by_id = {message_id(record): record for record in records}
    published_at = time.time()
    async with bound_queue(rabbitmq_config, "#") as queue:
        async with RabbitMQSink(rabbitmq_config) as sink:
            await write_in_batches(sink, records)
        messages = await drain(queue)

    assert len(messages) == 100_000
    assert len({message.message_id for message in messages}) == 100_000
    for message in messages:
        record = by_id[message.message_id]
        assert orjson.loads(message.body) == to_dict(record)
        assert message.routing_key == routing_key(record)
        assert message.content_type == "application/json"
        assert message.delivery_mode == DeliveryMode.PERSISTENT
        assert abs(message.timestamp.timestamp() - published_at) < 120


async def test_a_consumer_bound_to_binance_tickers_gets_exactly_binance_tickers(
        rabbitmq_config: RabbitMQConfig) -> None:
    records = mixed_records(3_000)
    expected = {message_id(r) for r in records if r.kind == "ticker" and r.exchange == "binance"}
    # The consumer binds a subset on purpose: the rest is counted and let go.
    subset = rabbitmq_config.model_copy(update={"unroutable": "count"})
    async with bound_queue(rabbitmq_config, "ticker.binance.#") as queue:
        async with RabbitMQSink(subset) as sink:
            await sink.write(records)
        messages = await drain(queue)

    assert sorted(message.message_id for message in messages) == sorted(expected)
    assert {orjson.loads(m.body)["exchange"] for m in messages} == {"binance"}
    assert {orjson.loads(m.body)["kind"] for m in messages} == {"ticker"}


async def test_a_consumer_bound_to_funding_rates_gets_every_funding_rate_and_no_ticker(
        rabbitmq_config: RabbitMQConfig) -> None:
    records = mixed_records(3_000)
    expected = {message_id(r) for r in records if r.kind == "funding_rate"}
    # The consumer binds a subset on purpose: the rest is counted and let go.
    subset = rabbitmq_config.model_copy(update={"unroutable": "count"})
    async with bound_queue(rabbitmq_config, "funding_rate.*.#") as queue:
        async with RabbitMQSink(subset) as sink:
            await sink.write(records)
        messages = await drain(queue)

    assert sorted(message.message_id for message in messages) == sorted(expected)
    assert {m.routing_key.split(".")[1] for m in messages} == set(EXCHANGES)
    assert {orjson.loads(m.body)["kind"] for m in messages} == {"funding_rate"}


async def test_writing_the_same_records_twice_gives_both_copies_the_same_message_id(
        rabbitmq_config: RabbitMQConfig) -> None:
    records = mixed_records(500)
    async with bound_queue(rabbitmq_config, "#") as queue:
        async with RabbitMQSink(rabbitmq_config) as sink:
            await sink.write(records)
        async with RabbitMQSink(rabbitmq_config) as sink:  # a new connection, as after a restart
            await sink.write(records)
        messages = await drain(queue)

    copies = Counter(message.message_id for message in messages)
    assert copies == Counter({message_id(record): 2 for record in records})


async def test_bad_credentials_fail_with_mq_001_naming_the_broker_but_not_the_password(
        rabbitmq_config: RabbitMQConfig) -> None:
    config = rabbitmq_config.model_copy(update={"password": SecretStr("wr0ng-S3cret-xyz")})
    sink = RabbitMQSink(config, timeout=10.0)
    with pytest.raises(SinkError) as caught:
        await sink.open()
    assert caught.value.code == ErrorCode.MQ_001
    assert "127.0.0.1:5672/" in str(caught.value)
    assert "wr0ng-S3cret-xyz" not in str(caught.value)
    assert "wr0ng-S3cret-xyz" not in repr(sink)
    with pytest.raises(SinkError):  # write opens lazily and fails the same way
        await sink.write(mixed_records(1))
    await sink.close()


async def test_an_unreachable_broker_fails_open_and_write_promptly_with_mq_001(
        rabbitmq_config: RabbitMQConfig) -> None:
    port = free_port()
    timeout = 60.0
    sink = RabbitMQSink(rabbitmq_config.model_copy(update={"port": port}), timeout=timeout)
    started = time.monotonic()
    with pytest.raises(SinkError) as caught:
        await sink.write(mixed_records(10))
    assert time.monotonic() - started < timeout / 4  # refused at once, not waited out
    assert caught.value.code == ErrorCode.MQ_001
    assert f"127.0.0.1:{port}/" in str(caught.value)
    assert "guest" not in str(caught.value).replace(f"127.0.0.1:{port}/", "")
    await sink.close()


async def write_until_it_succeeds(sink: RabbitMQSink, records: list[Record], within: float) -> int:
    """Retry a write as the batching writer would; returns how many attempts failed."""
    failures = 0
    async with asyncio.timeout(within):
        while True:
            try:
                await sink.write(records)
                return failures
            except SinkError:
                failures += 1
                await asyncio.sleep(0.25)


async def test_writes_fail_while_the_broker_is_cut_off_and_succeed_once_it_is_back(
        rabbitmq_config: RabbitMQConfig) -> None:
    before, during, after = mixed_records(300), mixed_records(300, first_ts=BASE_TS + 10**6), \
        mixed_records(300, first_ts=BASE_TS + 2 * 10**6)
    async with bound_queue(rabbitmq_config, "#") as queue, \
            TcpProxy("127.0.0.1", rabbitmq_config.port) as proxy:
        config = rabbitmq_config.model_copy(update={"port": proxy.port})
        timeout = 60.0
        async with RabbitMQSink(config, timeout=timeout) as sink:
            await sink.write(before)
            await proxy.cut()
            started = time.monotonic()
            with pytest.raises(SinkError) as caught:
                await sink.write(during)
            assert time.monotonic() - started < timeout / 4  # the refusal, not the timeout
            assert caught.value.code == ErrorCode.MQ_001
            await proxy.restore()
            await write_until_it_succeeds(sink, after, within=20.0)
        messages = await drain(queue)

    received = {message.message_id for message in messages}
    assert {message_id(r) for r in before + after} <= received


@pytest.fixture
def log_lines(tmp_path):
    """The collector's real logging, as in production (JSON lines to a file, INFO), for the test;
    yields a function returning the lines written so far (it stops the logging to read them)."""
    path = tmp_path / "collector.log"
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in ("aio_pika", "aiormq")}
    saved_structlog = structlog.get_config()
    configure_logging(LoggingConfig(level="INFO", console=False, file=True, file_path=path))

    def read() -> list[dict]:
        shutdown_logging()
        return [json.loads(line) for line in path.read_text().splitlines()]

    try:
        yield read
    finally:
        shutdown_logging()
        root.handlers[:], root.level = saved_handlers, saved_level
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        structlog.configure(**saved_structlog)


async def test_a_5s_outage_is_logged_once_when_it_begins_and_once_when_it_ends_with_its_duration(
        rabbitmq_config: RabbitMQConfig, log_lines, tmp_path) -> None:
    batch = BatchProcessingConfig(batch_size=100, flush_interval=0.1, spool_dir=tmp_path / "spool")
    retry = RetryConfig(max_attempts=2, base_delay=0.1, max_delay=0.5)
    breaker = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=1.0)
    async with bound_queue(rabbitmq_config, "#"), TcpProxy("127.0.0.1", rabbitmq_config.port) as proxy:
        config = rabbitmq_config.model_copy(update={"port": proxy.port})
        # As in the daemon: the sink behind its writer, which keeps writing and probing.
        async with Journal(tmp_path / "spool", max_bytes=2**30) as journal, \
                BatchWriter(RabbitMQSink(config, timeout=5.0), journal, batch, retry, breaker) as writer:
            await journal.append(mixed_records(10))
            await writer.flush()
            await proxy.cut()
            for second in range(1, 6):
                await journal.append(mixed_records(10, first_ts=BASE_TS + second * 10**6))
                await asyncio.sleep(1.0)
            await proxy.restore()
            async with asyncio.timeout(20.0):
                while writer.status()["state"] != "ok":
                    await asyncio.sleep(0.1)
    lines = log_lines()

    about_the_broker = [line for line in lines if line.get("sink") == "rabbitmq" and "endpoint" in line]
    assert [line["event"] for line in about_the_broker] == [
        "sink_connected", "sink_connection_lost", "sink_reconnected"], about_the_broker
    assert about_the_broker[1]["level"] == "warning"
    assert 5.0 <= about_the_broker[2]["outage_s"] < 5.0 + 10.0
    mq_001 = [line for line in lines if line.get("error_code") == "MQ_001"]
    assert [line["event"] for line in mq_001] == ["sink_down"], mq_001
    assert [line["event"] for line in lines if line["event"] == "sink_recovered"] == ["sink_recovered"]
    assert not [line for line in lines if line.get("logger", "").startswith(("aio_pika", "aiormq"))]


async def test_a_cut_in_the_middle_of_a_write_fails_it_promptly_not_at_the_timeout(
        rabbitmq_config: RabbitMQConfig) -> None:
    records = mixed_records(200_000)
    async with TcpProxy("127.0.0.1", rabbitmq_config.port) as proxy:
        config = rabbitmq_config.model_copy(update={"port": proxy.port})
        async with RabbitMQSink(config, timeout=60.0) as sink:
            # 1 MB into the publishing the proxy holds the rest (confirms included): the write
            # is certainly in the middle when the cut comes, on a fast machine or a slow one.
            stalled = proxy.stall_after(1_000_000)
            write = asyncio.create_task(sink.write(records), name="write:rabbitmq")
            async with asyncio.timeout(60):
                await stalled.wait()
            assert not write.done()
            started = time.monotonic()
            await proxy.cut()
            with pytest.raises(SinkError) as caught:
                await write
            # promptly: a small part of the 60 s write timeout, however loaded the machine
            assert time.monotonic() - started < 60.0 / 4
            assert caught.value.code == ErrorCode.MQ_001


async def test_a_stalled_broker_times_out_with_mq_001_and_writes_succeed_after_it_recovers(
        rabbitmq_config: RabbitMQConfig) -> None:
    records, later = mixed_records(300), mixed_records(300, first_ts=BASE_TS + 10**6)
    async with bound_queue(rabbitmq_config, "#") as queue, \
            TcpProxy("127.0.0.1", rabbitmq_config.port) as proxy:
        config = rabbitmq_config.model_copy(update={"port": proxy.port})
        timeout = 2.0
        async with RabbitMQSink(config, timeout=timeout) as sink:
            await proxy.stall()
            started = time.monotonic()
            with pytest.raises(SinkError) as caught:
                await sink.write(records)
            assert time.monotonic() - started < 3 * timeout  # the timeout, not a hang
            assert caught.value.code == ErrorCode.MQ_001
            await proxy.restore()
            await write_until_it_succeeds(sink, later, within=20.0)
        messages = await drain(queue)

    assert {message_id(r) for r in later} <= {message.message_id for message in messages}

