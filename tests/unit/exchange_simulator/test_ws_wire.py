"""A tick's frames written in one go to the transport reach a websocket client as the same text
messages, whatever their length (the three RFC 6455 length encodings)."""

import aiohttp
from aiohttp import web

from exchange_simulator.ws_server import text_frames


async def test_frames_written_in_one_write_arrive_as_separate_text_messages_of_any_length():
    payloads = [b'{"a":1}', b'{"b":"' + b"x" * 200 + b'"}', b'{"c":"' + b"y" * 70_000 + b'"}', b"{}"]

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        request.transport.write(text_frames(payloads))
        await ws.receive()  # until the client closes
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            received = [await ws.receive(timeout=10) for _ in payloads]
    finally:
        await runner.cleanup()
    assert [m.type for m in received] == [aiohttp.WSMsgType.TEXT] * len(payloads)
    assert [m.data.encode() for m in received] == payloads
