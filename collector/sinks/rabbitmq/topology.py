"""What the RabbitMQ sink declares before it publishes: the exchange, the alternate exchange, the
configured queues and their bindings; and the same checked without creating anything.

Declared on a robust channel, so aio-pika declares and binds them again after every reconnect,
before the channel is handed back for publishing. A queue or exchange that already exists with
other arguments is `MQ_002` naming it and the broker's words for the difference
("inequivalent arg 'x-max-length-bytes' ..."): never deleted and declared again, which would
throw away what waits in it.
"""

from __future__ import annotations

from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from collector.config import RabbitMQConfig, RabbitMQQueueConfig
from collector.errors import ErrorCode, SinkMisconfigured

_NOT_FOUND = 404


def queue_arguments(queue: RabbitMQQueueConfig) -> dict[str, Any]:
    """The x-arguments of a declared queue: its type (classic is the broker's default, so an
    existing classic queue declared without one stays equivalent) and what the config adds."""
    type_argument = {} if queue.type == "classic" else {"x-queue-type": queue.type}
    return {**type_argument, **queue.arguments}


def exchange_arguments(config: RabbitMQConfig) -> dict[str, Any] | None:
    return {"alternate-exchange": config.alternate_exchange} if config.alternate_exchange else None


async def declare(channel: AbstractChannel, config: RabbitMQConfig) -> None:
    """Declare (durable) and bind everything the config names; MQ_002 on a conflicting one."""
    if config.alternate_exchange:
        # The catch-all: a fanout exchange and a quorum queue of the same name behind it.
        catch_all = await _exchange(channel, config.alternate_exchange, aio_pika.ExchangeType.FANOUT, None)
        await _queue(channel, RabbitMQQueueConfig(name=config.alternate_exchange), catch_all)
    exchange = await _exchange(channel, config.exchange, aio_pika.ExchangeType.TOPIC, exchange_arguments(config))
    for queue in config.queues:
        await _queue(channel, queue, exchange)


async def _exchange(channel: AbstractChannel, name: str, kind: aio_pika.ExchangeType,
                    arguments: dict[str, Any] | None) -> AbstractExchange:
    try:
        return await channel.declare_exchange(name, kind, durable=True, arguments=arguments)
    except aiormq.exceptions.ChannelPreconditionFailed as err:
        raise conflict("exchange", name, err) from None


async def _queue(channel: AbstractChannel, queue: RabbitMQQueueConfig, exchange: AbstractExchange) -> None:
    try:
        declared = await channel.declare_queue(queue.name, durable=True, arguments=queue_arguments(queue))
    except aiormq.exceptions.ChannelPreconditionFailed as err:
        raise conflict("queue", queue.name, err) from None
    for key in queue.binding_keys:
        await declared.bind(exchange, key)


def conflict(what: str, name: str, err: BaseException) -> SinkMisconfigured:
    reply = " ".join(str(arg) for arg in getattr(err, "args", ()) if isinstance(arg, str)) or str(err)
    return SinkMisconfigured(
        f"RabbitMQ {what} '{name}' exists with other arguments ({reply}); it is not declared again "
        f"(that would lose what waits in it): make rabbitmq.queues match it, or delete the {what} "
        "once its readers are done", code=ErrorCode.MQ_002)


async def verify(connection: AbstractConnection, config: RabbitMQConfig) -> list[str]:
    """What start would find, without creating anything: one phrase per exchange and queue.

    Raises MQ_002 where start would. A queue that is missing is fine: start creates it."""
    found = [await _verify(connection, "exchange", config.exchange, _declare_exchange(config))]
    for queue in config.queues:
        found.append(await _verify(connection, "queue", queue.name, _declare_queue(queue)))
    if config.alternate_exchange:
        found.append(await _verify(connection, "exchange", config.alternate_exchange,
                                   _declare_exchange(config, alternate=True)))
    return found


def _declare_exchange(config: RabbitMQConfig, *, alternate: bool = False):
    async def declare_it(channel: AbstractChannel, passive: bool) -> None:
        if alternate:
            name, kind, arguments = config.alternate_exchange, aio_pika.ExchangeType.FANOUT, None
        else:
            name, kind, arguments = config.exchange, aio_pika.ExchangeType.TOPIC, exchange_arguments(config)
        await channel.declare_exchange(name, kind, durable=True, passive=passive, arguments=arguments)
    return declare_it


def _declare_queue(queue: RabbitMQQueueConfig):
    async def declare_it(channel: AbstractChannel, passive: bool) -> None:
        await channel.declare_queue(queue.name, durable=True, passive=passive, arguments=queue_arguments(queue))
    return declare_it


async def _verify(connection: AbstractConnection, what: str, name: str, declare_it) -> str:
    # Passive first: a declaration of a missing one would create it. A failed declaration
    # closes its channel, so each check has its own.
    async with connection.channel() as channel:
        try:
            await declare_it(channel, True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return f"{what} {name} missing (created at start)"
    async with connection.channel() as channel:
        try:
            await declare_it(channel, False)  # exists: the same declaration changes nothing
        except aiormq.exceptions.ChannelPreconditionFailed as err:
            raise conflict(what, name, err) from None
    return f"{what} {name} matches"
