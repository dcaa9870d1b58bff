"""REST side of the simulator: routes a request to its exchange's dialect, counts it, applies the
exchange's HTTP faults (faults.py) and serves the dialect's answer or a recorded replay."""

from __future__ import annotations

import asyncio
import collections
import socket
import struct
from collections.abc import Mapping

from aiohttp import web

from exchange_simulator.faults import Fault, FaultBook
from exchange_simulator.replies import Reply


class RestServer:
    """The catch-all HTTP handler of the three exchanges' REST dialects."""

    def __init__(self, dialects: Mapping, faults: Mapping[str, FaultBook], closing: asyncio.Event) -> None:
        self._dialects = dialects
        self._faults = faults
        self._closing = closing
        self.requests: dict[str, collections.Counter[str]] = {ex: collections.Counter() for ex in dialects}
        # per exchange: (path, query subset, reply), the most specific rule first
        self.replays: dict[str, list[tuple[str, dict[str, str], Reply]]] = {ex: [] for ex in dialects}

    def add_replay(self, exchange: str, path: str, query: dict[str, str], reply: Reply) -> None:
        # Most specific first: a rule with more query keys wins over a broader one.
        rules = self.replays[exchange]
        rules.append((path, query, reply))
        rules.sort(key=lambda rule: -len(rule[1]))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        dialect = self._route(request.path)
        if dialect is None:
            return web.json_response({"error": f"no simulated exchange serves {request.path}"}, status=404)
        target = request.path_qs
        self.requests[dialect.name][target] += 1
        reply = await self._apply_faults(dialect, request, self._faults[dialect.name].draw(target))
        if reply is None:
            return await self._hang_up(request)
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type,
                            headers=reply.headers)

    async def _apply_faults(self, dialect, request: web.Request, hits: list[Fault]) -> Reply | None:
        delay = sum(f.latency for f in hits if f.kind == "latency")
        if delay:
            await asyncio.sleep(delay)
        failure = next((f for f in hits if f.kind != "latency"), None)
        if failure is None:
            return self._answer(dialect, request)
        if failure.kind == "timeout":
            await self._closing.wait()
            return None
        if failure.kind == "reset":
            return None
        if failure.kind in ("malformed_json", "truncated_json"):
            reply = self._answer(dialect, request)
            return Reply(200, _mangle(reply.body, failure.kind), reply.content_type)
        return dialect.failure(failure)

    def _answer(self, dialect, request: web.Request) -> Reply:
        if dialect.is_signed(request.query, request.headers):
            return dialect.auth_error()
        query = dict(request.query)
        for path, expected, reply in self.replays[dialect.name]:
            if path == request.path and all(query.get(k) == v for k, v in expected.items()):
                return reply
        return dialect.handle(request.path, query)

    async def _hang_up(self, request: web.Request) -> web.StreamResponse:
        """Drop the connection with a TCP reset, as a crashed gateway or a cut line would."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        raise asyncio.CancelledError("connection reset by the simulator")

    def _route(self, path: str):
        for dialect in self._dialects.values():
            if path.startswith(dialect.prefixes):
                return dialect
        return None


def _mangle(body: bytes, kind: str) -> bytes:
    if kind == "truncated_json":
        return body[: max(1, len(body) // 2)]
    return body.replace(b":", b"", 1) if b":" in body else b"{" + body
