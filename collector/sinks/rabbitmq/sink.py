"""RabbitMQ sink: one persistent JSON message per record on a durable topic exchange.

Each record becomes a message on the exchange `config.exchange` (default `crypto.futures`) with
routing key `routing_key(record)` (`ticker.binance.BTC-USDT-USDT`), body `to_dict(record)` as JSON,
`message_id = message_id(record)`, `content_type=application/json`, persistent delivery mode and
the publish time as AMQP timestamp.

Where records wait for their readers: at every connect, before the first publish, the sink
declares the exchange and the queues of `rabbitmq.queues` (durable; quorum, stream or classic)
and binds them (topology.py); one that exists with other arguments is MQ_002, a fault
that retrying cannot mend (SinkMisconfigured: the daemon exits 1).

Delivery is at-least-once. `write` returns only after the broker confirmed (publisher confirms)
every message of the batch; any nack, channel or connection error, or no confirmation within
`timeout` raises SinkError MQ_001 and the writer retries the *whole* batch later. Messages of a
failed batch that did reach the broker are then published a second time, so consumers must
deduplicate on `message_id`: it is a stable hash of the record identity, equal for every copy.

Unroutable messages: published `mandatory`, so the broker returns what no queue binds instead of
confirming and dropping it; unroutable.py counts, logs and (`unroutable: hold`) holds them.

Cluster: `rabbitmq.hosts` lists the nodes; the sink connects to the first that answers and, when
that connection is lost, to the next one that answers (the journal keeps the batch meanwhile).

Publishing path: aio-pika's `Exchange.publish` costs a task, a lock round, a queue hop, a socket
send and a generic pamqp encoding per message (~2,000-4,000 confirmed messages/s on our 2-core
machine). We keep aio-pika for the connection, its robust reconnect and the channel, but encode a
window of `WINDOW` messages ourselves and write it as one frame write on the underlying aiormq
channel (amqp_wire.py, the one adapter to aiormq's internals); at most `WINDOWS_IN_FLIGHT`
windows are unconfirmed at once, whatever the batch size (~15,000-20,000 messages/s).

Connection: the first connect fails fast (unreachable broker, bad credentials, missing vhost),
then a robust connection repairs drops in the background. While it is reconnecting, `write`
fails at once instead of waiting (with several hosts it fails over instead); after a write timed
out (a stalled broker) the connection is dropped and the next `write` opens a new one. A drop is
logged twice: the warning `sink_connection_lost` when it begins (the writer's `sink_down` carries
the outage's MQ_001), `sink_reconnected` with `outage_s` when it ends; the background attempts in
between only at debug (aio-pika's own per-attempt lines are silenced in collector.logging).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aio_pika.connection import make_url
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from collector.config import RabbitMQConfig
from collector.errors import ErrorCode, SinkError, SinkMisconfigured
from collector.lifecycle import OpenClose
from collector.records import Record, message_id
from collector.sinks.rabbitmq import topology
from collector.sinks.rabbitmq.amqp_wire import (UnsupportedAiormq, Window, check_supported, encode_window, mark_closed,
                                       returned_routing_key)
from collector.sinks.rabbitmq.reasons import reason
from collector.sinks.rabbitmq.unroutable import Unroutable

__all__ = ["RECONNECT_INTERVAL", "RabbitMQSink", "encode_window"]

log = structlog.get_logger(__name__)

WINDOW: Final = 500  # messages written to the socket at once
WINDOWS_IN_FLIGHT: Final = 4  # so at most 2,000 unconfirmed messages, whatever the batch size
RECONNECT_INTERVAL: Final = 2.0  # seconds between background reconnect attempts
CLOSE_TIMEOUT: Final = 1.0  # seconds granted to a polite close: a healthy broker answers in ms


class RabbitMQSink(OpenClose):
    name = "rabbitmq"
    error_code = ErrorCode.MQ_001

    def __init__(self, config: RabbitMQConfig, timeout: float = 30.0, connect_timeout: float = 10.0) -> None:
        self._config = config
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._open_lock = asyncio.Lock()
        self._lost_at: float | None = None  # monotonic time the connection dropped, while it is down
        self._node = 0  # index in config.nodes of the node connected to, or tried next
        self._unroutable = Unroutable(config.unroutable, config.exchange)

    @property
    def endpoint(self) -> str:
        """`host:port/vhost`, the broker in words an operator can check; never the password."""
        host, port = self._config.nodes[self._node]
        return f"{host}:{port}/{self._config.virtual_host.lstrip('/')}"

    def __repr__(self) -> str:
        return f"RabbitMQSink({self._config.username}@{self.endpoint}, exchange={self._config.exchange})"

    async def open(self, *, declare: bool = True) -> None:
        async with self._open_lock:
            if self._connection is not None:
                return
            await self._connect_to_a_node(declare)
        if self._lost_at is not None:  # a connection we dropped ourselves while it was down
            self._on_reconnected(None)
        else:
            log.info("sink_connected", sink=self.name, endpoint=self.endpoint, exchange=self._config.exchange)

    async def _connect_to_a_node(self, declare: bool) -> None:
        """The current node, else the next ones in order: the first that answers."""
        nodes = len(self._config.nodes)
        failures: list[str] = []
        for _ in range(nodes):
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await self._connect(declare)
                return
            except TimeoutError:
                failures.append(f"{self.endpoint}: connect timed out after {self._connect_timeout:g}s (no answer)")
            except UnsupportedAiormq as err:
                raise SinkMisconfigured(str(err), code=self.error_code) from None
            except CONNECTION_EXCEPTIONS as err:
                failures.append(f"{self.endpoint}: cannot connect: {self._reason(err)}")
            self._node = (self._node + 1) % nodes
        if nodes == 1:
            raise SinkError(f"RabbitMQ at {failures[0]}", code=self.error_code)
        raise SinkError(f"RabbitMQ: no node answers: {'; '.join(failures)}", code=self.error_code)

    async def _connect(self, declare: bool) -> None:
        # Built by hand rather than by connect_robust: a connection whose first connect failed
        # must be closed here. Left to the garbage collector, aio-pika's __del__ makes a
        # `close()` coroutine that is never awaited, and the RuntimeWarning it raises can run
        # inside an import on another thread (CPython 3.11: KeyError in the import lock).
        host, port = self._config.nodes[self._node]
        connection = aio_pika.RobustConnection(
            make_url(host=host, port=port, login=self._config.username,
                     password=self._config.password.get_secret_value(),
                     virtualhost=self._config.virtual_host,
                     client_properties={"connection_name": "crypto-collector"},
                     reconnect_interval=RECONNECT_INTERVAL),
            reconnect_interval=RECONNECT_INTERVAL)
        try:
            await connection.connect(timeout=self._connect_timeout)
            channel = await connection.channel(publisher_confirms=True)
            check_supported(await channel.get_underlay_channel())
            if declare:  # robust: the channel declares and binds them again after every reconnect
                await topology.declare(channel, self._config)
        except BaseException:
            await asyncio.shield(_close_quietly(connection))
            mark_closed(connection)
            raise
        connection.close_callbacks.add(self._on_connection_lost)
        connection.reconnect_callbacks.add(self._on_reconnected)
        self._connection, self._channel = connection, channel

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = None
        if connection is None:
            return
        connection.close_callbacks.discard(self._on_connection_lost)
        connection.reconnect_callbacks.discard(self._on_reconnected)
        await _close_quietly(connection)

    async def verify(self) -> str:
        """`--validate-config --online`: connect as start would and check the declarations
        without creating anything. Raises SinkError (MQ_001, MQ_002)."""
        await self.open(declare=False)
        assert self._connection is not None
        try:
            found = await topology.verify(self._connection, self._config)
        except CONNECTION_EXCEPTIONS as err:
            raise self._error(f"cannot check the declarations: {self._reason(err)}") from None
        return f"{self.endpoint} as {self._config.username}: " + "; ".join(found)

    async def write(self, records: Sequence[Record]) -> None:
        records = self._unroutable.still_to_send(records)
        if not records:
            return
        await self._fail_over_if_lost()
        await self.open()
        try:
            async with asyncio.timeout(self._timeout):
                channel = await self._ready_channel()
                returned = await self._publish(channel, records)
        except TimeoutError:
            # A broker that stopped answering without closing the socket: start afresh next time.
            await self.close()
            raise self._error(
                f"{len(records)} messages not confirmed within {self._timeout:g}s; connection dropped"
            ) from None
        except CONNECTION_EXCEPTIONS as err:
            raise self._error(f"publish of {len(records)} messages failed: {self._reason(err)}") from None
        except _Nacked:
            # A channel whose quorum queue refused it (its leader died mid-publish) can go on
            # refusing after a new leader is elected: the batch is re-sent on a fresh one.
            await self.close()
            raise
        self._unroutable.settle(records, returned)

    async def _fail_over_if_lost(self) -> None:
        """With several nodes, a lost connection is not waited for: the next node that answers
        takes over (a quorum queue and a stream are on every node of the cluster)."""
        connection = self._connection
        if connection is None or len(self._config.nodes) == 1 or connection.connected.is_set():
            return
        await self.close()
        self._node = (self._node + 1) % len(self._config.nodes)

    async def _ready_channel(self) -> aiormq.abc.AbstractChannel:
        assert self._connection is not None and self._channel is not None
        if not self._connection.connected.is_set():
            raise self._error("connection lost; reconnecting in the background")
        await self._channel.ready()
        channel = await self._channel.get_underlay_channel()
        if channel.is_closed:
            raise self._error("channel closed; reopening in the background")
        return channel

    async def _publish(self, channel: aiormq.abc.AbstractChannel, records: Sequence[Record]) -> list[int]:
        """Send the batch window by window, keeping a bounded number of windows unconfirmed;
        the positions of the messages the broker returned as unroutable."""
        timestamp = datetime.now(UTC)
        unconfirmed: deque[tuple[int, Window]] = deque()
        returned: list[int] = []
        try:
            for start in range(0, len(records), WINDOW):
                window = records[start:start + WINDOW]
                payload = encode_window(window, self._config.exchange, channel, timestamp)
                ids = [message_id(record) for record in window]
                unconfirmed.append((start, await Window.send(channel, payload, ids)))
                if len(unconfirmed) > WINDOWS_IN_FLIGHT:
                    returned += await self._confirmed(*unconfirmed[0])
                    unconfirmed.popleft()[1].release()
            while unconfirmed:
                returned += await self._confirmed(*unconfirmed[0])
                unconfirmed.popleft()[1].release()
        finally:
            for _start, sent in unconfirmed:  # after a failure: nobody will look at these any more
                sent.abandon()
        return returned

    async def _confirmed(self, start: int, window: Window) -> list[int]:
        await window.wait()
        nacked, returned = 0, []
        for position, future in enumerate(window.futures, start):
            if future.cancelled():
                raise self._error("connection closed before the broker confirmed the batch")
            if returned_routing_key(future) is not None:
                returned.append(position)
            elif (err := future.exception()) is not None:
                if not isinstance(err, aiormq.exceptions.DeliveryError):
                    raise self._error(f"publish failed before confirmation: {self._reason(err)}")
                nacked += 1
        if nacked:
            raise _Nacked(f"RabbitMQ at {self.endpoint}: broker refused (nack) {nacked} of "
                          f"{len(window.futures)} messages", code=self.error_code)
        return returned

    def _on_connection_lost(self, _connection: object, exc: BaseException | None) -> None:
        # aio-pika calls this for the drop and again for every failed reconnect attempt:
        # the outage is logged once, when it begins; the attempts at debug.
        why = self._reason(exc) if exc else "closed"
        if self._lost_at is not None:
            log.debug("sink_reconnect_failed", sink=self.name, endpoint=self.endpoint, error=why)
            return
        self._lost_at = time.monotonic()
        # No error code: the writer's `sink_down` is the outage's one MQ_001 line; this one adds
        # the broker's own reason, and shows a drop that healed before any write noticed it.
        log.warning("sink_connection_lost", sink=self.name, endpoint=self.endpoint, error=why)

    def _on_reconnected(self, _connection: object) -> None:
        lost_at, self._lost_at = self._lost_at, None
        outage = round(time.monotonic() - lost_at, 1) if lost_at is not None else None
        log.info("sink_reconnected", sink=self.name, endpoint=self.endpoint, outage_s=outage)

    def _error(self, why: str) -> SinkError:
        return SinkError(f"RabbitMQ at {self.endpoint}: {why}", code=self.error_code)

    def _reason(self, err: BaseException) -> str:
        return reason(self._config, err)


class _Nacked(SinkError):
    """The broker refused (Basic.Nack) messages of the batch."""


async def _close_quietly(connection: AbstractRobustConnection) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await connection.close()
    except (TimeoutError, *CONNECTION_EXCEPTIONS) as err:
        log.debug("sink_close_failed", sink="rabbitmq", error=type(err).__name__)
