"""RabbitMQ sink: one persistent JSON message per record on a durable topic exchange.

Each record becomes a message on the exchange `config.exchange` (default `crypto.futures`) with
routing key `routing_key(record)` (`ticker.binance.BTC-USDT-USDT`), body `to_dict(record)` as JSON,
`message_id = message_id(record)`, `content_type=application/json`, persistent delivery mode and
the publish time as AMQP timestamp.

Delivery is at-least-once. `write` returns only after the broker confirmed (publisher confirms)
every message of the batch; any nack, channel or connection error, or no confirmation within
`timeout` raises SinkError MQ_001 and the writer retries the *whole* batch later. Messages of a
failed batch that did reach the broker are then published a second time, so consumers must
deduplicate on `message_id`: it is a stable hash of the record identity, equal for every copy.

Unroutable messages: we publish with `mandatory=False`. A topic exchange with no queue bound to a
routing key drops the message and still confirms it; that is the contract of a fan-out bus
(consumers bind what they want), not a failure. With `mandatory=True` the broker would send every
unrouted body back, and a collector nobody listens to yet would fail and spool for ever.

Publishing path: aio-pika's `Exchange.publish` costs a task, a lock round, a queue hop, a socket
send and a generic pamqp encoding per message (~2,000-4,000 confirmed messages/s on our 2-core
machine). We keep aio-pika for the connection, its robust reconnect and the channel, but encode a
window of `WINDOW` messages ourselves and write it as one frame write on the underlying aiormq
channel, registering a confirmation future per delivery tag in `channel.confirmations` as
`aiormq.Channel.basic_publish` does (see `amqp_wire.Window`); at most `WINDOWS_IN_FLIGHT` windows are
unconfirmed at once, whatever the batch size (~15,000-20,000 messages/s). These are aiormq 6.9
internals: the integration tests (confirms, nacks on a cut, byte-equal frames) guard them.

Connection: `connect_robust` fails fast on the first connect (unreachable broker, bad
credentials, missing vhost), then repairs drops in the background. While it is reconnecting,
`write` fails at once instead of waiting; after a write timed out (a stalled broker) the
connection is dropped and the next `write` opens a new one. A drop is logged twice: the warning
`sink_connection_lost` when it begins (the writer's `sink_down` carries the outage's MQ_001),
`sink_reconnected` with `outage_s` when it ends; the background attempts in between only at
debug (aio-pika's own per-attempt lines are silenced in collector.logging).
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
from collector.errors import ErrorCode, SinkError
from collector.records import Record
from collector.sinks.amqp_wire import Window, encode_window
from collector.sinks.base import OpenClose

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

    @property
    def endpoint(self) -> str:
        """`host:port/vhost`, the broker in words an operator can check; never the password."""
        return f"{self._config.host}:{self._config.port}/{self._config.virtual_host.lstrip('/')}"

    def __repr__(self) -> str:
        return f"RabbitMQSink({self._config.username}@{self.endpoint}, exchange={self._config.exchange})"

    async def open(self) -> None:
        async with self._open_lock:
            if self._connection is not None:
                return
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await self._connect()
            except TimeoutError:
                raise self._error(f"connect timed out after {self._connect_timeout:g}s (no answer)") from None
            except CONNECTION_EXCEPTIONS as err:
                raise self._error(f"cannot connect: {self._reason(err)}") from None
        if self._lost_at is not None:  # a connection we dropped ourselves while it was down
            self._on_reconnected(None)
        else:
            log.info("sink_connected", sink=self.name, endpoint=self.endpoint, exchange=self._config.exchange)

    async def _connect(self) -> None:
        # Built by hand rather than by connect_robust: a connection whose first connect failed
        # must be closed here. Left to the garbage collector, aio-pika's __del__ makes a
        # `close()` coroutine that is never awaited, and the RuntimeWarning it raises can run
        # inside an import on another thread (CPython 3.11: KeyError in the import lock).
        connection = aio_pika.RobustConnection(
            make_url(host=self._config.host, port=self._config.port, login=self._config.username,
                     password=self._config.password.get_secret_value(),
                     virtualhost=self._config.virtual_host,
                     client_properties={"connection_name": "crypto-collector"},
                     reconnect_interval=RECONNECT_INTERVAL),
            reconnect_interval=RECONNECT_INTERVAL)
        try:
            await connection.connect(timeout=self._connect_timeout)
            channel = await connection.channel(publisher_confirms=True)
            # Robust: the channel declares it again after every reconnect.
            await channel.declare_exchange(self._config.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        except BaseException:
            await asyncio.shield(_close_quietly(connection))
            _mark_closed(connection)
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

    async def write(self, records: Sequence[Record]) -> None:
        if not records:
            return
        await self.open()
        try:
            async with asyncio.timeout(self._timeout):
                channel = await self._ready_channel()
                await self._publish(channel, records)
        except TimeoutError:
            # A broker that stopped answering without closing the socket: start afresh next time.
            await self.close()
            raise self._error(
                f"{len(records)} messages not confirmed within {self._timeout:g}s; connection dropped"
            ) from None
        except CONNECTION_EXCEPTIONS as err:
            raise self._error(f"publish of {len(records)} messages failed: {self._reason(err)}") from None

    async def _ready_channel(self) -> aiormq.abc.AbstractChannel:
        assert self._connection is not None and self._channel is not None
        if not self._connection.connected.is_set():
            raise self._error("connection lost; reconnecting in the background")
        await self._channel.ready()
        channel = await self._channel.get_underlay_channel()
        if channel.is_closed:
            raise self._error("channel closed; reopening in the background")
        return channel

    async def _publish(self, channel: aiormq.abc.AbstractChannel, records: Sequence[Record]) -> None:
        """Send the batch window by window, keeping a bounded number of windows unconfirmed."""
        timestamp = datetime.now(UTC)
        unconfirmed: deque[Window] = deque()
        try:
            for start in range(0, len(records), WINDOW):
                window = records[start:start + WINDOW]
                payload = encode_window(window, self._config.exchange, channel, timestamp)
                unconfirmed.append(await Window.send(channel, payload, len(window)))
                if len(unconfirmed) > WINDOWS_IN_FLIGHT:
                    await self._confirmed(unconfirmed[0])
                    unconfirmed.popleft().release()
            while unconfirmed:
                await self._confirmed(unconfirmed[0])
                unconfirmed.popleft().release()
        finally:
            for sent in unconfirmed:  # after a failure: nobody will look at these any more
                sent.abandon()

    async def _confirmed(self, window: Window) -> None:
        await window.wait()
        nacked = 0
        for future in window.futures:
            if future.cancelled():
                raise self._error("connection closed before the broker confirmed the batch")
            if (err := future.exception()) is not None:
                if not isinstance(err, aiormq.exceptions.DeliveryError):
                    raise self._error(f"publish failed before confirmation: {self._reason(err)}")
                nacked += 1
        if nacked:
            raise self._error(f"broker refused (nack) {nacked} of {len(window.futures)} messages")

    def _on_connection_lost(self, _connection: object, exc: BaseException | None) -> None:
        # aio-pika calls this for the drop and again for every failed reconnect attempt:
        # the outage is logged once, when it begins; the attempts at debug.
        reason = self._reason(exc) if exc else "closed"
        if self._lost_at is not None:
            log.debug("sink_reconnect_failed", sink=self.name, endpoint=self.endpoint, error=reason)
            return
        self._lost_at = time.monotonic()
        # No error code: the writer's `sink_down` is the outage's one MQ_001 line; this one adds
        # the broker's own reason, and shows a drop that healed before any write noticed it.
        log.warning("sink_connection_lost", sink=self.name, endpoint=self.endpoint, error=reason)

    def _on_reconnected(self, _connection: object) -> None:
        lost_at, self._lost_at = self._lost_at, None
        outage = round(time.monotonic() - lost_at, 1) if lost_at is not None else None
        log.info("sink_reconnected", sink=self.name, endpoint=self.endpoint, outage_s=outage)

    def _error(self, reason: str) -> SinkError:
        return SinkError(f"RabbitMQ at {self.endpoint}: {reason}", code=self.error_code)

    def _reason(self, err: BaseException) -> str:
        text = self._refusal(err) or (f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
        password = self._config.password.get_secret_value()
        return text.replace(password, "***") if password else text

    def _refusal(self, err: BaseException) -> str | None:
        """The broker's refusal of our login or vhost, in words naming what to fix (None: other)."""
        user, vhost = self._config.username, self._config.virtual_host
        if isinstance(err, aiormq.exceptions.ProbableAuthenticationError):
            return (f"login refused for user '{user}' (ACCESS_REFUSED): check rabbitmq.username and "
                    "rabbitmq.password")
        close = next((arg for arg in getattr(err, "args", ()) if hasattr(arg, "reply_text")), None)
        if close is None:
            return None
        reply = f"{close.reply_text} ({close.reply_code})"
        if "not found" in close.reply_text:
            return f"virtual host '{vhost}' does not exist: {reply}; create it (rabbitmqctl add_vhost) or fix rabbitmq.virtual_host"
        if "refused for user" in close.reply_text:
            return (f"user '{user}' may not use virtual host '{vhost}': {reply}; grant it "
                    f"(rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*')")
        return f"the broker closed the connection: {reply}"


def _mark_closed(connection: AbstractRobustConnection) -> None:
    """aio-pika 9's `close()` of a connection that never connected returns before marking it
    closed, so its __del__ would still make the never-awaited `close()` coroutine."""
    closed = getattr(connection, "_closed", None)
    if isinstance(closed, asyncio.Future) and not closed.done():
        closed.set_result(True)


async def _close_quietly(connection: AbstractRobustConnection) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await connection.close()
    except (TimeoutError, *CONNECTION_EXCEPTIONS) as err:
        log.debug("sink_close_failed", sink="rabbitmq", error=type(err).__name__)
