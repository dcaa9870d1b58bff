"""A TCP proxy for outage tests: put it between a client and a real server, then cut or stall it.

    async with TcpProxy("127.0.0.1", 5432) as proxy:   # listens on 127.0.0.1:proxy.port
        ...connect the client to proxy.port...
        await proxy.cut()      # reset every open connection; new ones are refused
        await proxy.stall()    # connections stay open but no byte moves (a hang)
        stalled = proxy.stall_after(1_000_000)  # let 1 MB more go to the server, then stall:
        await stalled.wait()   # a big write is now certainly in the middle, whatever the speed
        await proxy.restore()  # forward again and accept new connections
        proxy.connections      # open client connections

Pure asyncio streams. A cut closes the listening socket too (a client sees "connection
refused", as when the server is down); `restore()` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Self

_CHUNK = 65536
# SO_LINGER on with a zero timeout: close() sends RST, as a crashed server or a cut cable would.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.port = 0  # set by __aenter__: a free port, kept across cut() and restore()
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._links: set[_Link] = set()
        self.upstream_bytes = 0  # forwarded from clients to the server, over every connection
        self._stall_at: int | None = None
        self._stalled = asyncio.Event()

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._links)

    async def __aenter__(self) -> Self:
        await self._listen()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop_listening()
        await self._reset_links()
        self._flowing.set()

    async def cut(self) -> None:
        """Reset every open connection and refuse new ones until `restore()`."""
        await self._stop_listening()
        await self._reset_links()

    async def stall(self) -> None:
        """Keep connections open (and accept new ones) but forward nothing: the peer hangs."""
        self._flowing.clear()

    def stall_after(self, upstream_bytes: int) -> asyncio.Event:
        """Forward `upstream_bytes` more bytes from clients to the server, then stall as `stall()`
        does; the event is set once stalled. For a cut in the middle of a write, on any machine."""
        self._stall_at = self.upstream_bytes + upstream_bytes
        self._stalled = asyncio.Event()
        return self._stalled

    def _forwarded_upstream(self, count: int) -> None:
        self.upstream_bytes += count
        if self._stall_at is not None and self.upstream_bytes >= self._stall_at:
            self._stall_at = None
            self._flowing.clear()
            self._stalled.set()

    async def restore(self) -> None:
        """Forward again (held bytes go through) and accept new connections."""
        if self._server is None:
            await self._listen()
        self._flowing.set()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.listen_host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _reset_links(self) -> None:
        links, self._links = list(self._links), set()
        for link in links:
            link.reset()
        for link in links:
            await link.finished.wait()

    async def _serve(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        link = _Link(client_writer)
        self._links.add(link)
        try:
            await link.run(client_reader, self)
        finally:
            self._links.discard(link)


class _Link:
    """One client connection and its upstream twin, pumping bytes both ways."""

    def __init__(self, client_writer: asyncio.StreamWriter) -> None:
        self.writers = [client_writer]
        self.finished = asyncio.Event()
        self._task = asyncio.current_task()

    async def run(self, client_reader: asyncio.StreamReader, proxy: TcpProxy) -> None:
        graceful = False
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                proxy.target_host, proxy.target_port)
            self.writers.append(upstream_writer)
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(_pump(client_reader, upstream_writer, proxy._flowing,
                                            proxy._forwarded_upstream))
                    group.create_task(_pump(upstream_reader, self.writers[0], proxy._flowing))
                graceful = True
            except* OSError:
                pass  # one side reset the connection: reset the other side too
        except OSError:
            pass  # the target refused: the client sees a reset
        except asyncio.CancelledError:
            # reset() by cut() or by leaving the proxy. Not re-raised: Python 3.11's start_server
            # callback calls task.exception() on this task, which raises for a cancelled task.
            pass
        finally:
            self._task = None  # from here on reset() only aborts the transports
            await self._close(graceful)
            self.finished.set()

    def reset(self) -> None:
        for writer in self.writers:
            _set_reset_on_close(writer)
            writer.transport.abort()
        if self._task is not None:
            self._task.cancel()

    async def _close(self, graceful: bool) -> None:
        for writer in self.writers:
            if writer.transport.is_closing():
                continue
            if graceful:
                writer.close()  # flushes what is still buffered, then FIN
            else:
                _set_reset_on_close(writer)
                writer.transport.abort()
        if graceful:
            for writer in self.writers:
                try:
                    await writer.wait_closed()
                except OSError:
                    pass  # the peer went away while we flushed; the link is over anyway


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                flowing: asyncio.Event, forwarded: Callable[[int], None] | None = None) -> None:
    """Copy bytes until end of stream, then half-close the other side so it sees EOF too."""
    while data := await reader.read(_CHUNK):
        await flowing.wait()
        writer.write(data)
        if forwarded is not None:
            forwarded(len(data))
        await writer.drain()
    await flowing.wait()
    if writer.can_write_eof() and not writer.transport.is_closing():
        writer.write_eof()


def _set_reset_on_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.fileno() != -1:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        except OSError:
            pass  # the socket is already gone; nothing left to reset
