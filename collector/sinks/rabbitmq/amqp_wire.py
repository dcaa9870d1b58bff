"""The one adapter to aiormq's and aio-pika's internals: our messages' frames, written by hand,
and the confirmations (or returns) of a window.

The RabbitMQ sink keeps aio-pika for the connection, its reconnects and the channel, but
publishes a window of `WINDOW` messages as one frame write on the underlying aiormq channel (see
rabbitmq.py): pamqp's generic encoding and aiormq's per-message publish cost more than the rest
of a message. That reaches into aiormq 6.9's channel (`write_queue`, `confirmations`,
`message_id_delivery_tag`, `delivery_tag`, `lock`, `closing`) and aio-pika's connection
(`_closed`); nothing else in the project does. `check_supported()` fails loudly (at the sink's
connect, and in tests/integration/test_rabbitmq_queues.py) on an aiormq whose version or channel lacks them,
instead of publishing into a queue nobody reads.
"""

from __future__ import annotations

import asyncio
import struct
from importlib import metadata
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Final

import aiormq
import orjson
import pamqp.frame
from aiormq import spec
from aiormq.abc import ChannelFrame

from collector.records import Record, message_id, routing_key, to_dict

CONTENT_TYPE: Final = "application/json"
PERSISTENT: Final = 2
SUPPORTED_AIORMQ: Final = ((6, 9),)  # (major, minor) whose channel internals we use
SUPPORTED_AIO_PIKA: Final = (9,)  # majors whose connection's `_closed` future mark_closed settles
_CHANNEL_INTERNALS: Final = ("write_queue", "confirmations", "message_id_delivery_tag", "delivery_tag",
                             "lock", "closing", "number", "max_content_size")


class UnsupportedAiormq(Exception):
    """The installed aiormq is not one whose internals this adapter was written against."""


def check_supported(channel: object | None = None) -> None:
    """Raise UnsupportedAiormq unless aiormq (and `channel`, when given) is what we publish through,
    and aio-pika the major version whose connection we mark closed."""
    pika = metadata.version("aio-pika")
    if int(pika.split(".")[0]) not in SUPPORTED_AIO_PIKA:
        raise UnsupportedAiormq(f"aio-pika {pika} is not supported by collector/sinks/rabbitmq/amqp_wire.py "
                                f"(written for {', '.join(f'{v}.x' for v in SUPPORTED_AIO_PIKA)})")
    version = metadata.version("aiormq")
    major_minor = tuple(int(part) for part in version.split(".")[:2])
    if major_minor not in SUPPORTED_AIORMQ:
        raise UnsupportedAiormq(f"aiormq {version} is not supported by collector/sinks/rabbitmq/amqp_wire.py "
                                f"(written for {', '.join('.'.join(map(str, v)) for v in SUPPORTED_AIORMQ)})")
    if channel is not None and (missing := [name for name in _CHANNEL_INTERNALS if not hasattr(channel, name)]):
        raise UnsupportedAiormq(f"aiormq {version}'s channel lacks {', '.join(missing)}")

# AMQP 0-9-1 wire format (spec 4.2.3, 4.2.6): pamqp's generic encoder costs ~12 us per content
# header, more than the rest of a message; ours writes the four properties we set, and a test
# holds its bytes equal to pamqp's.
_FRAME_START = struct.Struct(">BHI")  # frame type, channel, payload size
_FRAME_END = b"\xce"
_HEADER_FRAME, _BODY_FRAME = 2, 3
_BASIC_CLASS = 60
_HEADER_START = struct.Struct(">HHQH")  # class id, weight, body size, property flags
_PROPERTY_FLAGS = 0x8000 | 0x1000 | 0x0080 | 0x0040  # content-type, delivery-mode, message-id, timestamp
_TIMESTAMP = struct.Struct(">Q")


def encode_window(
    records: Sequence[Record], exchange: str, channel: aiormq.abc.AbstractChannel, timestamp: datetime,
) -> bytes:
    """The AMQP frames (method, content header, body) of every record, as one payload.

    Published `mandatory`: the broker returns (Basic.Return) a message no queue binds instead
    of dropping it."""
    number, max_body = channel.number, channel.max_content_size
    # Properties in flag order: content-type, delivery-mode, message-id, timestamp (seconds).
    leading = _shortstr(CONTENT_TYPE.encode()) + bytes((PERSISTENT,))
    trailing = _TIMESTAMP.pack(int(timestamp.timestamp()))
    parts: list[bytes] = []
    for record in records:
        body = orjson.dumps(to_dict(record))
        header = b"".join((_HEADER_START.pack(_BASIC_CLASS, 0, len(body), _PROPERTY_FLAGS), leading,
                           _shortstr(message_id(record).encode()), trailing))
        parts += (_publish_frame(exchange, routing_key(record), number),
                  _FRAME_START.pack(_HEADER_FRAME, number, len(header)), header, _FRAME_END)
        for offset in range(0, len(body), max_body):
            chunk = body[offset:offset + max_body]
            parts += (_FRAME_START.pack(_BODY_FRAME, number, len(chunk)), chunk, _FRAME_END)
    return b"".join(parts)


def _shortstr(value: bytes) -> bytes:
    return bytes((len(value),)) + value


@lru_cache(maxsize=16384)
def _publish_frame(exchange: str, key: str, channel_number: int) -> bytes:
    # The same few thousand routing keys come back every tick: encode each one once.
    method = spec.Basic.Publish(exchange=exchange, routing_key=key, mandatory=True)
    return pamqp.frame.marshal(method, channel_number)


class Window:
    """The confirmation futures of one window of published messages, in delivery-tag order.

    Does for a whole window what `aiormq.Channel.basic_publish` does per message: registers a
    future per delivery tag in `channel.confirmations`, which the channel's reader resolves on
    Basic.Ack / Basic.Nack, and each message id's tag in `channel.message_id_delivery_tag`, through
    which the reader matches a Basic.Return to its future. Plain loop futures with one close
    callback per window replace aiormq's per-future store (two callbacks per future and per
    level; a quarter of the CPU).
    """

    __slots__ = ("_channel", "_closing", "_ids", "futures")

    def __init__(self, channel: aiormq.abc.AbstractChannel, futures: list[asyncio.Future], ids: list[str]) -> None:
        self.futures = futures
        self._channel = channel
        self._ids = ids
        self._closing = channel.closing  # rejected by aiormq when the channel or connection closes
        self._closing.add_done_callback(self._reject)

    @classmethod
    async def send(cls, channel: aiormq.abc.AbstractChannel, payload: bytes, ids: list[str]) -> Window:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in ids]
        async with channel.lock:
            if channel.is_closed:
                raise aiormq.exceptions.ChannelInvalidStateError("channel closed")
            first = channel.delivery_tag + 1
            tags = range(first, first + len(ids))
            channel.confirmations.update(zip(tags, futures))
            channel.message_id_delivery_tag.update(zip(ids, tags))
            channel.delivery_tag += len(ids)
            await channel.write_queue.put(ChannelFrame(payload=payload, should_close=False))
        return cls(channel, futures, ids)

    async def wait(self) -> None:
        # The broker confirms in publish order, so the last tag usually settles the window.
        await asyncio.wait(self.futures[-1:])
        if pending := [future for future in self.futures if not future.done()]:
            await asyncio.wait(pending)

    def release(self) -> None:
        self._closing.remove_done_callback(self._reject)
        by_id = self._channel.message_id_delivery_tag
        for key in self._ids:
            by_id.pop(key, None)

    def abandon(self) -> None:
        self.release()
        for future in self.futures:
            future.add_done_callback(_retrieve)

    def _reject(self, _closing: asyncio.Future) -> None:
        for future in self.futures:
            if not future.done():
                future.set_exception(ConnectionError("channel closed before the broker confirmed"))


def returned_routing_key(future: asyncio.Future) -> str | None:
    """The routing key of a message the broker returned as unroutable (None: not returned).

    aiormq resolves a returned message's future with the message (or fails it with PublishError
    when the channel raises on returns) instead of the Basic.Ack that follows."""
    if future.cancelled():
        return None
    err = future.exception()
    if isinstance(err, aiormq.exceptions.PublishError):
        return str(err.message.delivery.routing_key or "")
    if err is None and isinstance(result := future.result(), aiormq.abc.DeliveredMessage):
        return str(getattr(result.delivery, "routing_key", "") or "")
    return None


def mark_closed(connection: object) -> None:
    """aio-pika 9's `close()` of a connection that never connected returns before marking it
    closed, so its __del__ would still make the never-awaited `close()` coroutine."""
    closed = getattr(connection, "_closed", None)
    if isinstance(closed, asyncio.Future) and not closed.done():
        closed.set_result(True)


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
