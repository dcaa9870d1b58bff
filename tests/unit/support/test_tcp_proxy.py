"""The outage-test proxy forwards bytes both ways, and cuts, stalls and restores on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.tcp_proxy import TcpProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
async def proxy(echo_port: int) -> AsyncIterator[TcpProxy]:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        yield proxy


async def _connect(proxy: TcpProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     payload: bytes, timeout: float = 5.0) -> bytes:
    writer.write(payload)
    await writer.drain()
    async with asyncio.timeout(timeout):
        return await reader.readexactly(len(payload))


async def _wait_for_connections(proxy: TcpProxy, count: int) -> None:
    async with asyncio.timeout(5):
        while proxy.connections != count:
            await asyncio.sleep(0.01)


async def test_proxy_listens_on_a_free_port_and_forwards_both_ways(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    payload = bytes(range(256)) * 8192  # 2 MiB: many chunks, back-pressure on both sides
    assert proxy.port > 0
    assert await _roundtrip(reader, writer, payload) == payload
    writer.close()


async def test_connections_counts_open_client_connections(proxy: TcpProxy) -> None:
    first = await _connect(proxy)
    second = await _connect(proxy)
    await _wait_for_connections(proxy, 2)
    first[1].close()
    await _wait_for_connections(proxy, 1)
    second[1].close()
    await _wait_for_connections(proxy, 0)


async def test_client_half_close_still_gets_the_reply(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"last words")
    writer.write_eof()
    async with asyncio.timeout(5):
        assert await reader.read() == b"last words"
    writer.close()


async def test_cut_resets_open_connections(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    assert await _roundtrip(reader, writer, b"ping") == b"ping"
    await proxy.cut()
    async with asyncio.timeout(5):
        try:
            assert await reader.read() == b""
        except ConnectionResetError:
            pass
    assert proxy.connections == 0
    writer.close()


async def test_cut_refuses_new_connections(proxy: TcpProxy) -> None:
    await proxy.cut()
    with pytest.raises(ConnectionRefusedError):
        await _connect(proxy)


async def test_restore_after_cut_accepts_connections_on_the_same_port(proxy: TcpProxy) -> None:
    port = proxy.port
    await proxy.cut()
    await proxy.restore()
    reader, writer = await _connect(proxy)
    assert proxy.port == port
    assert await _roundtrip(reader, writer, b"back again") == b"back again"
    writer.close()


async def test_stall_keeps_the_connection_open_but_moves_no_bytes(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    await proxy.stall()
    with pytest.raises(TimeoutError):
        await _roundtrip(reader, writer, b"hello?", timeout=0.3)
    assert proxy.connections == 1
    await proxy.restore()
    async with asyncio.timeout(5):
        assert await reader.readexactly(6) == b"hello?"
    writer.close()


async def test_new_connections_during_a_stall_hang_too(proxy: TcpProxy) -> None:
    await proxy.stall()
    reader, writer = await _connect(proxy)
    with pytest.raises(TimeoutError):
        await _roundtrip(reader, writer, b"anyone?", timeout=0.3)
    await proxy.cut()
    writer.close()


async def test_unreachable_target_resets_the_client(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", 1) as proxy:  # nothing listens on port 1
        reader, writer = await _connect(proxy)
        async with asyncio.timeout(5):
            try:
                assert await reader.read() == b""
            except ConnectionResetError:
                pass
        writer.close()


async def test_leaving_the_proxy_closes_connections_and_the_port(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        reader, writer = await _connect(proxy)
        await proxy.stall()
        await _wait_for_connections(proxy, 1)
    assert proxy.connections == 0
    async with asyncio.timeout(5):
        try:
            assert await reader.read() == b""
        except ConnectionResetError:
            pass
    with pytest.raises(ConnectionRefusedError):
        await _connect(proxy)
    writer.close()


async def test_stall_after_forwards_that_many_bytes_then_holds_the_rest(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    stalled = proxy.stall_after(1_000_000)
    writer.write(bytes(4_000_000))
    async with asyncio.timeout(10):
        await stalled.wait()
    assert 1_000_000 <= proxy.upstream_bytes < 1_000_000 + 65536 * 2  # at most the chunk in flight
    held_at = proxy.upstream_bytes
    await asyncio.sleep(0.1)
    assert proxy.upstream_bytes == held_at  # nothing more moves until restored
    await proxy.restore()
    async with asyncio.timeout(10):
        assert len(await reader.readexactly(4_000_000)) == 4_000_000
    writer.close()
