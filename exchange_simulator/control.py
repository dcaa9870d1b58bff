"""The HTTP control surface under ``/_sim/``: faults, delisting, counters and served state."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from exchange_simulator.server import Simulator


def add_routes(app: web.Application, sim: Simulator) -> None:
    """``POST /_sim/faults`` {exchange, kind, ...settings}; ``DELETE /_sim/faults[?exchange=]``;
    ``GET /_sim/stats``; ``POST /_sim/reset``; ``POST /_sim/delist`` {exchange, symbol, mode};
    ``POST /_sim/trading`` {exchange, trading} (false: no trades, the 24 h window still moves);
    ``POST /_sim/hold`` {exchange, symbol, moving, time_moves} (only that quote field of the
    symbol moves; time_moves false: its exchange time stands still too);
    ``GET /_sim/state?exchange=``; ``GET /_sim/served?exchange=&symbol=&ts=``."""

    async def add_fault(request: web.Request) -> web.Response:
        payload = await _json(request)
        try:
            exchange, kind = payload.pop("exchange"), payload.pop("kind")
            fault = sim.set_fault(exchange, kind, **payload)
        except (KeyError, TypeError, ValueError) as err:
            return _bad_request(err)
        return web.json_response({"ok": True, "exchange": exchange, "fault": fault.to_json()})

    async def clear_faults(request: web.Request) -> web.Response:
        try:
            sim.clear_faults(request.query.get("exchange"))
        except KeyError as err:
            return _bad_request(err)
        return web.json_response({"ok": True})

    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response(sim.stats()["faults_active"])

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(sim.stats())

    async def reset(request: web.Request) -> web.Response:
        sim.reset()
        return web.json_response({"ok": True})

    async def delist(request: web.Request) -> web.Response:
        payload = await _json(request)
        try:
            sim.delist(payload["exchange"], payload["symbol"], payload.get("mode", "status"))
        except (KeyError, ValueError) as err:
            return _bad_request(err)
        return web.json_response({"ok": True})

    async def trading(request: web.Request) -> web.Response:
        payload = await _json(request)
        try:
            sim.set_trading(payload["exchange"], bool(payload["trading"]))
        except KeyError as err:
            return _bad_request(err)
        return web.json_response({"ok": True})

    async def hold(request: web.Request) -> web.Response:
        payload = await _json(request)
        try:
            sim.hold(payload["exchange"], payload["symbol"], payload["moving"], bool(payload.get("time_moves", True)))
        except (KeyError, ValueError) as err:
            return _bad_request(err)
        return web.json_response({"ok": True})

    async def state(request: web.Request) -> web.Response:
        try:
            quotes = sim.state(request.query.get("exchange", ""))
        except KeyError as err:
            return _bad_request(err)
        return web.json_response({s: dataclasses.asdict(q) for s, q in quotes.items()})

    async def served(request: web.Request) -> web.Response:
        query = request.query
        try:
            quote = sim.served(query["exchange"], query["symbol"], int(query["ts"]))
        except (KeyError, ValueError) as err:
            return _bad_request(err)
        if quote is None:
            return web.json_response({"error": "not served"}, status=404)
        return web.json_response(dataclasses.asdict(quote))

    app.router.add_post("/_sim/faults", add_fault)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.router.add_get("/_sim/faults", list_faults)
    app.router.add_get("/_sim/stats", stats)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_post("/_sim/delist", delist)
    app.router.add_post("/_sim/trading", trading)
    app.router.add_post("/_sim/hold", hold)
    app.router.add_get("/_sim/state", state)
    app.router.add_get("/_sim/served", served)


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
