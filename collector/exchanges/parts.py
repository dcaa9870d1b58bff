"""Running the parts of one poll (plans.py) against a ccxt exchange.

Every request goes through the source's `call(endpoint, request)` (retry → semaphore → rate
limiter → metrics), so each is paced by the exchange's own weights and counted per endpoint.
The first part of a poll must succeed; a later part that fails only leaves its fields empty
this time (the poll still delivers what the first part gave).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

import structlog
from ccxt.base import errors as ccxt_errors

from collector.exchanges.native_plans import NATIVE_CALLS
from collector.exchanges.plans import RAW_CALLS, Part, PartResult
from collector.exchanges.rejections import Rejections

log = structlog.get_logger(__name__)

Call = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


async def fetch_parts(exchange: Any, parts: Iterable[Part], call: Call, symbols: Iterable[str],
                      fanout: asyncio.Semaphore, rejections: Rejections,
                      name: str) -> list[tuple[Part, PartResult]]:
    """Every part concurrently; raises the first part's failure, drops a later part's."""
    parts = tuple(parts)
    symbols = sorted(symbols)
    results = await asyncio.gather(
        *(fetch_part(exchange, part, call, symbols, fanout, rejections) for part in parts),
        return_exceptions=True)
    fetched = []
    for index, (part, result) in enumerate(zip(parts, results)):
        if isinstance(result, BaseException):
            if index == 0 or not isinstance(result, ccxt_errors.BaseError):
                raise result
            log.debug("part_failed", exchange=name, endpoint=part.endpoint, error=str(result)[:200])
            continue
        fetched.append((part, result))
    return fetched


async def fetch_part(exchange: Any, part: Part, call: Call, symbols: list[str],
                     fanout: asyncio.Semaphore, rejections: Rejections) -> PartResult:
    if part.decode is not None:  # decoder: native
        return await _fetch_native(exchange, part, call, symbols, fanout, rejections)
    if part.method in RAW_CALLS:
        raw = RAW_CALLS[part.method]
        return await call(part.endpoint, lambda: raw(exchange))
    method = getattr(exchange, part.method)
    if part.per_symbol:
        answers = await fetch_each(part.endpoint, lambda s: call(part.endpoint, lambda: method(s)),
                                   symbols, fanout, rejections)
        return {symbol: answer for symbol, answer in answers.items() if isinstance(answer, Mapping)}, None
    result = await call(part.endpoint, method)
    if not isinstance(result, Mapping):
        raise ccxt_errors.BadResponse(f"{exchange.id} {part.method} returned {type(result).__name__}")
    return result, None


async def _fetch_native(exchange: Any, part: Part, call: Call, symbols: list[str],
                        fanout: asyncio.Semaphore, rejections: Rejections) -> PartResult:
    native = NATIVE_CALLS[part.method]
    if part.per_symbol:
        return await fetch_each(part.endpoint, lambda s: call(part.endpoint, lambda: native(exchange, s)),
                                symbols, fanout, rejections), None
    return await call(part.endpoint, lambda: native(exchange))


async def fetch_each(endpoint: str, one_call: Callable[[str], Awaitable[Any]], symbols: Collection[str],
                     fanout: asyncio.Semaphore, rejections: Rejections) -> dict[str, Any]:
    """One request per symbol, at most the fan-out's size at a time: symbol -> answer. A symbol
    the endpoint rejects gets no answer and goes to `rejections` (it stays collected by every
    other request); raises only when every request failed for another reason."""
    results: dict[str, Any] = {}
    rejected: list[str] = []
    errors: list[ccxt_errors.BaseError] = []

    async def one(symbol: str) -> None:
        async with fanout:
            try:
                results[symbol] = await one_call(symbol)
            except ccxt_errors.BadSymbol:
                rejected.append(symbol)
            except ccxt_errors.BaseError as err:
                errors.append(err)

    async with asyncio.TaskGroup() as group:
        for symbol in symbols:
            group.create_task(one(symbol), name=f"fetch:{endpoint}:{symbol}")
    rejections.settle(endpoint, symbols, rejected, results)
    if errors and not results:
        raise errors[-1]
    return results
