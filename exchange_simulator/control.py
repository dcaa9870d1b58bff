"""The HTTP control surface under ``/_sim/``: faults, delisting, counters and served state.

``POST /_sim/faults`` {exchange, kind, ...settings}; ``DELETE /_sim/faults[?exchange=]``;
``GET /_sim/faults``; ``GET /_sim/stats``; ``POST /_sim/reset``; ``POST /_sim/delist``
{exchange, symbol, mode}; ``POST /_sim/trading`` {exchange, trading} (false: no trades, the 24 h
window still moves); ``POST /_sim/hold`` {exchange, symbol, moving, time_moves} (only that quote
field of the symbol moves; time_moves false: its exchange time stands still too);
``GET /_sim/state?exchange=``; ``GET /_sim/served?exchange=&symbol=&ts=``; ``POST /_sim/feed``
{tick, exchange} (the market steps and the websockets push every `tick` seconds from now on; no
exchange: all three).

The handlers reach the simulator through the application (`CONTROLLED`) and know it only as the
`Controlled` protocol below, so this module does not import the server that adds its routes.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from aiohttp import web

from exchange_simulator.faults import Fault
from exchange_simulator.market import Quote


class Controlled(Protocol):
    """What the control endpoints ask of the simulator."""

    def set_fault(self, exchange: str, kind: str, **settings: object) -> Fault: ...
    def clear_faults(self, exchange: str | None = None) -> None: ...
    def stats(self) -> dict: ...
    def reset(self) -> None: ...
    def delist(self, exchange: str, symbol: str, mode: str = "status") -> None: ...
    def set_trading(self, exchange: str, trading: bool) -> None: ...
    def set_feed(self, tick: float, exchange: str | None = None) -> None: ...
    def hold(self, exchange: str, symbol: str, moving: str, time_moves: bool = True) -> None: ...
    def state(self, exchange: str) -> dict[str, Quote]: ...
    def served(self, exchange: str, symbol: str, ts: int) -> Quote | None: ...


CONTROLLED = web.AppKey("controlled", Controlled)


def add_routes(app: web.Application, sim: Controlled) -> None:
    app[CONTROLLED] = sim
    for method, path, handler in _ROUTES:
        app.router.add_route(method, path, handler)


def _ok() -> web.Response:
    return web.json_response({"ok": True})


async def _add_fault(request: web.Request) -> web.Response:
    payload = await _json(request)
    try:
        exchange, kind = payload.pop("exchange"), payload.pop("kind")
        fault = request.app[CONTROLLED].set_fault(exchange, kind, **payload)
    except (KeyError, TypeError, ValueError) as err:
        return _bad_request(err)
    return web.json_response({"ok": True, "exchange": exchange, "fault": fault.to_json()})


async def _clear_faults(request: web.Request) -> web.Response:
    try:
        request.app[CONTROLLED].clear_faults(request.query.get("exchange"))
    except KeyError as err:
        return _bad_request(err)
    return _ok()


async def _list_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONTROLLED].stats()["faults_active"])


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONTROLLED].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[CONTROLLED].reset()
    return _ok()


async def _delist(request: web.Request) -> web.Response:
    payload = await _json(request)
    try:
        request.app[CONTROLLED].delist(payload["exchange"], payload["symbol"], payload.get("mode", "status"))
    except (KeyError, ValueError) as err:
        return _bad_request(err)
    return _ok()


async def _trading(request: web.Request) -> web.Response:
    payload = await _json(request)
    try:
        request.app[CONTROLLED].set_trading(payload["exchange"], bool(payload["trading"]))
    except KeyError as err:
        return _bad_request(err)
    return _ok()


async def _hold(request: web.Request) -> web.Response:
    payload = await _json(request)
    try:
        request.app[CONTROLLED].hold(payload["exchange"], payload["symbol"], payload["moving"],
                                     bool(payload.get("time_moves", True)))
    except (KeyError, ValueError) as err:
        return _bad_request(err)
    return _ok()


async def _feed(request: web.Request) -> web.Response:
    payload = await _json(request)
    try:
        request.app[CONTROLLED].set_feed(float(payload["tick"]), payload.get("exchange"))
    except (KeyError, TypeError, ValueError) as err:
        return _bad_request(err)
    return _ok()


async def _state(request: web.Request) -> web.Response:
    try:
        quotes = request.app[CONTROLLED].state(request.query.get("exchange", ""))
    except KeyError as err:
        return _bad_request(err)
    return web.json_response({s: dataclasses.asdict(q) for s, q in quotes.items()})


async def _served(request: web.Request) -> web.Response:
    query = request.query
    try:
        quote = request.app[CONTROLLED].served(query["exchange"], query["symbol"], int(query["ts"]))
    except (KeyError, ValueError) as err:
        return _bad_request(err)
    if quote is None:
        return web.json_response({"error": "not served"}, status=404)
    return web.json_response(dataclasses.asdict(quote))


_ROUTES = (
    ("POST", "/_sim/faults", _add_fault),
    ("DELETE", "/_sim/faults", _clear_faults),
    ("GET", "/_sim/faults", _list_faults),
    ("GET", "/_sim/stats", _stats),
    ("POST", "/_sim/reset", _reset),
    ("POST", "/_sim/delist", _delist),
    ("POST", "/_sim/trading", _trading),
    ("POST", "/_sim/hold", _hold),
    ("POST", "/_sim/feed", _feed),
    ("GET", "/_sim/state", _state),
    ("GET", "/_sim/served", _served),
)


async def _json(request: web.Request) -> dict:
    try:
        payload = await request.json()
    except ValueError as err:
        raise web.HTTPBadRequest(text=f"body is not JSON: {err}") from err
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return payload


def _bad_request(err: Exception) -> web.Response:
    return web.json_response({"ok": False, "error": str(err)}, status=400)
