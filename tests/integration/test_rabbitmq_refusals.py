"""The broker refusing our vhost or login is one MQ_001 line saying which, against the real broker."""

from __future__ import annotations

import uuid

import pytest

from collector.config import RabbitMQConfig
from collector.errors import ErrorCode, SinkError
from collector.sinks.rabbitmq.sink import RabbitMQSink
from tests.support.rabbitmq import HOST, PORT, broker_connection


async def refusal(config: RabbitMQConfig) -> str:
    await (await broker_connection()).close()  # skips (or fails under CI=true) without a broker
    sink = RabbitMQSink(config, timeout=5.0)
    with pytest.raises(SinkError) as caught:
        await sink.open()
    await sink.close()
    assert caught.value.code is ErrorCode.MQ_001
    return str(caught.value)


async def test_a_missing_virtual_host_is_named_with_the_fix():
    vhost = f"/missing-{uuid.uuid4().hex[:8]}"
    text = await refusal(RabbitMQConfig(enabled=True, host=HOST, port=PORT, virtual_host=vhost))
    assert text.startswith(f"MQ_001: RabbitMQ at {HOST}:{PORT}/{vhost.lstrip('/')}: cannot connect: "
                           f"virtual host '{vhost}' does not exist: NOT_ALLOWED - vhost {vhost} not found (530)")
    assert "rabbitmqctl add_vhost" in text and "\n" not in text
    assert "Connection.Close object" not in text


async def test_refused_credentials_say_so_without_the_password():
    text = await refusal(RabbitMQConfig(enabled=True, host=HOST, port=PORT, username="collector-nobody",
                                        password="Wr0ng-Pa55"))
    assert text == (f"MQ_001: RabbitMQ at {HOST}:{PORT}/: cannot connect: login refused for user "
                    "'collector-nobody' (ACCESS_REFUSED): check rabbitmq.username and rabbitmq.password")
