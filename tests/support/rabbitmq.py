"""RabbitMQ fixtures and consumer helpers for the local broker (127.0.0.1:5672, guest/guest).

Import the fixture explicitly in a test module:

    from tests.support.rabbitmq import rabbitmq_config  # noqa: F401

`rabbitmq_config` yields an enabled `RabbitMQConfig` whose exchange is unique to the test
(`crypto.futures.test-<hex>`) and deletes that exchange afterwards. Without the management API a
per-run vhost cannot be created over AMQP, so isolation is by exchange and queue names. Without a
reachable broker the test is skipped with the reason; under CI=true it fails instead.

`bound_queue(config, binding_key)` declares an exclusive, auto-deleted queue bound to the config's
exchange (declare it *before* publishing: a topic exchange drops what no queue is bound to), and
`drain(queue, ...)` consumes it until it stays quiet.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from collector.config import RabbitMQConfig
from tests.support import unavailable

HOST = "127.0.0.1"
PORT = 5672
USERNAME = "guest"
PASSWORD = "guest"
_CONNECT_TIMEOUT = 5.0


async def broker_connection() -> aio_pika.abc.AbstractConnection:
    """A plain connection to the local broker as guest; skips (or fails under CI=true) if down."""
    try:
        return await aio_pika.connect(host=HOST, port=PORT, login=USERNAME, password=PASSWORD,
                                      timeout=_CONNECT_TIMEOUT)
    except (TimeoutError, *CONNECTION_EXCEPTIONS) as err:
        unavailable(f"RabbitMQ is not reachable on {HOST}:{PORT} as {USERNAME}: {err!r}",
                    "the broker is required")


@pytest.fixture
async def rabbitmq_config() -> AsyncIterator[RabbitMQConfig]:
    connection = await broker_connection()
    name = f"crypto.futures.test-{uuid.uuid4().hex[:12]}"
    try:
        yield RabbitMQConfig(enabled=True, host=HOST, port=PORT, username=USERNAME,
                             password=PASSWORD, virtual_host="/", exchange=name)
    finally:
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(name)


@asynccontextmanager
async def bound_queue(config: RabbitMQConfig, binding_key: str) -> AsyncIterator[AbstractQueue]:
    """An exclusive queue bound to `config.exchange` with `binding_key`, for the block's duration.

    Declares the exchange too (durable topic, as the sink does), so the queue can be bound
    before the sink ever connected.
    """
    async with await broker_connection() as connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            config.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, binding_key)
        yield queue


async def drain(queue: AbstractQueue, *, quiet: float = 1.0,
                limit: float = 120.0) -> list[AbstractIncomingMessage]:
    """Consume every message (auto-ack) until none arrived for `quiet` seconds.

    Returns the messages in arrival order; stops at `limit` seconds whatever happens.
    """
    messages: list[AbstractIncomingMessage] = []
    arrived = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        messages.append(message)
        arrived.set()

    tag = await queue.consume(on_message, no_ack=True)
    try:
        async with asyncio.timeout(limit):
            while True:
                arrived.clear()
                try:
                    async with asyncio.timeout(quiet):
                        await arrived.wait()
                except TimeoutError:
                    break
    except TimeoutError:
        pass  # the caller's count assertion says what was missing
    finally:
        await queue.cancel(tag)
    return messages


def queue_names(prefix: str = "test") -> str:
    return f"crypto.{prefix}-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def deleted_afterwards(*queues: str) -> AsyncIterator[None]:
    """Durable queues (quorum, stream) a test has the sink declare: deleted when the block ends."""
    try:
        yield
    finally:
        async with await broker_connection() as connection:
            channel = await connection.channel()
            for name in queues:
                await channel.queue_delete(name)


async def read_queue(name: str, *, stream: bool = False, quiet: float = 1.0,
                     limit: float = 120.0) -> list[AbstractIncomingMessage]:
    """Every message waiting in the durable queue `name` (a stream: from its first offset),
    as a reader attached later would get them; acked, so a quorum queue is emptied."""
    async with await broker_connection() as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)  # a stream consumer must set one
        queue = await channel.get_queue(name, ensure=True)
        return await _consume(queue, {"x-stream-offset": "first"} if stream else None, quiet, limit)


async def _consume(queue: AbstractQueue, arguments: dict | None, quiet: float,
                   limit: float) -> list[AbstractIncomingMessage]:
    messages: list[AbstractIncomingMessage] = []
    arrived = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        messages.append(message)
        await message.ack()
        arrived.set()

    tag = await queue.consume(on_message, arguments=arguments)
    try:
        async with asyncio.timeout(limit):
            while True:
                arrived.clear()
                try:
                    async with asyncio.timeout(quiet):
                        await arrived.wait()
                except TimeoutError:
                    break
    except TimeoutError:
        pass  # the caller's count assertion says what was missing
    finally:
        await queue.cancel(tag)
    return messages
