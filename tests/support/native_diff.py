"""Native vs ccxt on the same exchange JSON, offline: a real ccxt instance whose markets are set
from plain market tables and whose implicit API methods answer given bodies (no network), the
two plans run through the daemon's own fetch_parts and Normalizer.merge, and the records compared
field by field, bit by bit.

    exchange = offline_exchange("okx", [swap("okx", "BTC-USDT-SWAP", "BTC", contract_size=0.01)])
    answer(exchange, publicGetMarketTickers=body)
    ccxt_side, native_side = await both(exchange, "ticker")
    assert_same(ccxt_side, native_side)
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterable
from typing import Any

import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors

from collector.exchanges.native_plans import native_plan
from collector.exchanges.normalize import Normalizer
from collector.exchanges.parts import fetch_parts
from collector.exchanges.rejections import Rejections
from collector.exchanges.plans import plan
from collector.exchanges.calls import _PARSE_ERRORS
from collector.records import Record

RECEIVED = 1_800_000_000_000
NAMES = {"binanceusdm": "binance", "bybit": "bybit", "okx": "okx"}


def swap(ccxt_id: str, market_id: str, base: str, *, contract_size: float = 1.0, quote: str = "USDT",
         info: dict | None = None, inverse: bool = False) -> dict:
    """A loaded linear (or inverse) perpetual as ccxt's load_markets leaves it, for `set_markets`."""
    settle = base if inverse else quote
    return {"id": market_id, "symbol": f"{base}/{quote}:{settle}", "base": base, "quote": quote,
            "settle": settle, "baseId": base, "quoteId": quote, "settleId": settle, "type": "swap",
            "spot": False, "margin": False, "swap": True, "future": False, "option": False,
            "contract": True, "linear": not inverse, "inverse": inverse, "active": True,
            "contractSize": contract_size, "info": info or {}, "precision": {}, "limits": {}}


def offline_exchange(ccxt_id: str, markets: Iterable[dict]) -> Any:
    exchange = getattr(ccxt_async, ccxt_id)({"enableRateLimit": False})
    exchange.set_markets(list(markets))
    return exchange


def answer(exchange: Any, **bodies: Any) -> None:
    """Each implicit API method named answers its body (a fresh copy per call: ccxt's parsers
    write into the rows they are given); a callable body is called with the request params."""
    for method, body in bodies.items():
        async def respond(params=None, *_, body=body):
            return copy.deepcopy(body(params or {}) if callable(body) else body)
        setattr(exchange, method, respond)


async def _call(endpoint: str, request: Callable, policy: Any = None) -> Any:
    return await request()


async def fetch(exchange: Any, parts: tuple, wanted: set[str] | None = None) -> list:
    wanted = set(exchange.markets) if wanted is None else wanted
    return await fetch_parts(exchange, parts, _call, wanted, asyncio.Semaphore(8), Rejections("diff", on_new=lambda: None), "diff")


async def run(exchange: Any, kind: str, parts: tuple, wanted: set[str] | None = None,
              joined: tuple = ()) -> Any:
    """The records of one poll of `kind` through `parts` (and `joined`: (part, answer) pairs
    joined after them, as source.py joins open interest) and how many entries were malformed,
    or the class of error the poll would raise (calls.py: BadResponse for a parse failure)."""
    wanted = set(exchange.markets) if wanted is None else wanted
    try:
        fetched = [*await fetch(exchange, parts, wanted), *joined]
    except ccxt_errors.BaseError as err:
        return type(err).__name__
    except _PARSE_ERRORS:
        return "BadResponse"
    ccxt_id = exchange.id
    def market(symbol: str) -> dict:
        return exchange.markets.get(symbol) or {}

    # as source.py builds it: the markets answer what only they know (contract size, bybit's interval)
    normalizer = Normalizer(NAMES[ccxt_id], ccxt_id, contract_size=lambda s: market(s).get("contractSize"),
                            market=market)
    normalized = normalizer.merge(kind, fetched, wanted, RECEIVED)
    return sorted(normalized.records, key=lambda r: r.symbol), normalized.malformed


def plans(exchange: Any, kind: str) -> tuple[tuple, tuple]:
    return plan(exchange.id, kind, exchange.has), native_plan(exchange.id, kind, exchange.has)


async def both(exchange: Any, kind: str, wanted: set[str] | None = None, *,
               joined: tuple[tuple, tuple] = ((), ())) -> tuple[Any, Any]:
    """(ccxt's result, native's result) of one poll of `kind`; `joined`: each side's joined
    (part, answer) pairs."""
    ccxt_parts, native_parts = plans(exchange, kind)
    return (await run(exchange, kind, ccxt_parts, wanted, joined[0]),
            await run(exchange, kind, native_parts, wanted, joined[1]))


def bits(record: Record) -> tuple:
    """Every field with its type and exact text: -0.0 differs from 0.0, 1e-05 from 1e-5 never."""
    return tuple((name, type(value).__name__, repr(value)) for name, value in
                 ((name, getattr(record, name)) for name in ("exchange", "symbol", "ts", "received_at",
                                                             *record.value_fields)))


def assert_same(ccxt_side: Any, native_side: Any) -> None:
    if isinstance(ccxt_side, str) or isinstance(native_side, str):
        assert ccxt_side == native_side, (ccxt_side, native_side)
        return
    (ccxt_records, ccxt_malformed), (native_records, native_malformed) = ccxt_side, native_side
    assert [bits(r) for r in native_records] == [bits(r) for r in ccxt_records]
    assert native_malformed == ccxt_malformed
